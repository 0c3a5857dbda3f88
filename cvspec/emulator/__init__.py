"""The built-in offline emulator of Custom Vision Training v3.4-preview and Prediction v3.1.

Public surface: ``cvspec.emulator.server.EmulatorServer`` (a real loopback HTTP server,
state in a data directory) and the ``emulator`` click group in ``cvspec.emulator.command``.

Layout (one job per module):

- ``server``, ``app``, ``auth``, ``faults``: the HTTP server, the ASGI app, key checks,
  throttling and fault injection;
- ``training_routes``, ``prediction_routes``, ``http``: HTTP <-> backend translation only;
- ``backend`` = ``projects`` + ``transfer`` + ``uploads``/``images`` + ``iterations`` +
  ``predictions``: the business rules, one method per API operation named like the SDK's;
- ``store`` (SQLite in WAL mode + content-addressed blobs), ``models`` (wire shapes),
  ``limits`` (tier profiles), ``exceptions`` (service errors), ``imaging``,
  ``metadata_filter``, ``urlfetch``, ``domains``;
- ``trainer`` (asynchronous training, feature cache) over ``learning``/``features``.
"""
