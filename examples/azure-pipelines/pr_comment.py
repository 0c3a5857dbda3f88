"""Post a Markdown file as a pull request's comment in Azure Repos, updating it in place.

    python pr_comment.py FILE HEADER PULL_REQUEST_ID

The comment opens with a hidden marker `<!-- cvspec-comment HEADER -->`; a thread whose first
comment carries it is edited, otherwise a new thread is opened. Every call to Azure DevOps
goes through `az devops invoke` (the Azure CLI's azure-devops extension, preinstalled on
Microsoft-hosted agents), authenticated by AZURE_DEVOPS_EXT_PAT (map $(System.AccessToken)).
The organization, project and repository come from the agent's predefined variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

API = "7.1"


def invoke(resource: str, method: str, route: dict[str, str], body: Any = None) -> Any:
    """One Azure DevOps REST call through `az devops invoke`; its JSON answer."""
    args = [
        "az", "devops", "invoke",
        "--org", os.environ["SYSTEM_COLLECTIONURI"],
        "--area", "git",
        "--resource", resource,
        "--api-version", API,
        "--http-method", method,
        "--output", "json",
        "--route-parameters", *(f"{k}={v}" for k, v in route.items()),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        if body is not None:
            request = Path(folder) / "body.json"
            request.write_text(json.dumps(body))
            args += ["--in-file", str(request)]
        done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout or "null")


def post(path: Path, header: str, pull_request: str) -> str:
    """Create or update the comment; returns "created" or "updated"."""
    marker = f"<!-- cvspec-comment {header} -->"
    content = f"{marker}\n{path.read_text(encoding='utf-8')}"
    route = {
        "project": os.environ["SYSTEM_TEAMPROJECTID"],
        "repositoryId": os.environ["BUILD_REPOSITORY_ID"],
        "pullRequestId": pull_request,
    }
    threads = invoke("pullRequestThreads", "GET", route).get("value", [])
    for thread in threads:
        first = (thread.get("comments") or [{}])[0]
        if str(first.get("content", "")).startswith(marker):
            where = {**route, "threadId": str(thread["id"]), "commentId": str(first["id"])}
            invoke("pullRequestThreadComments", "PATCH", where, {"content": content})
            return "updated"
    thread = {"comments": [{"parentCommentId": 0, "content": content, "commentType": 1}]}
    invoke("pullRequestThreads", "POST", route, {**thread, "status": 1})
    return "created"


if __name__ == "__main__":
    file, header, number = sys.argv[1:4]
    print(f"pull request {number}: comment {post(Path(file), header, number)}")
