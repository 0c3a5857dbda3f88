"""`cvspec import`: adopt a project built elsewhere (the portal, a script) as a spec plus its
images, so that `cvspec plan` on the written spec is a no-op.

* source: reads the live project (tags, images with their download URIs, iterations).
* layout: where each image goes (folder per tag, manifest, untagged) and the spec's text.
* download: batched, rate-limited, resumable downloads with a progress file.
* adopt: records cvspec's identity on the images and names the trained iteration.
* run: the whole import, in order.
"""
