"""The ``git`` bundle source: ``git ls-remote`` resolves the ref to a commit; a shallow fetch of it is the tree.

``base_path`` names a sub-directory of the checkout; a symbolic link on the way to it is refused, since the tree walk
would otherwise copy whatever the link points at from outside the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from aetherflow.api import parent_death_preexec
from aetherflow.bundles.sources import Entry, SourceError, SourceRefused, safe_url

__all__ = ["GIT_TIMEOUT_SECONDS", "GitSource"]

GIT_TIMEOUT_SECONDS = 300.0
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[^:/]+:")


class GitSource:
    """``git``: ``git ls-remote`` resolves the ref to a commit; a shallow fetch of that commit is the tree."""

    def __init__(self, url: str, *, ref: str, subdir: str | None, manifest_dir: str) -> None:
        if url.startswith("-") or ref.startswith("-"):
            raise SourceError("git url and ref must not start with '-'")
        self.url = _local_git_url(url, manifest_dir)
        self.ref = ref
        self.subdir = subdir or ""
        self.commit: str | None = None

    def list_entries(self) -> list[Entry]:
        """One entry: the sub-directory and the commit (the fingerprint is commit + sub-directory)."""
        self.commit = self._resolve()
        return [Entry(rel_path=self.subdir or ".", signature=f"git:{self.commit}")]

    def _resolve(self) -> str:
        if _COMMIT.match(self.ref):
            return self.ref
        # "<ref>^{}" asks for the peeled line too: an annotated tag names a tag object, the commit is behind it
        out = self._git(["ls-remote", self.url, self.ref, f"{self.ref}^{{}}"], what=f"list {self.ref}")
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if sha and name:
                refs[name.strip()] = sha.strip()
        for name in (
            self.ref,
            f"refs/heads/{self.ref}",
            f"refs/tags/{self.ref}^{{}}",
            f"refs/tags/{self.ref}",
        ):
            if name in refs:
                return refs[name]
        raise SourceError(f"git ref '{self.ref}' not found in {safe_url(self.url)}")

    def materialize(self, workdir: Path) -> Path:
        """Shallow-fetch the commit into ``workdir`` and check it out; return the sub-directory."""
        commit = self.commit or self._resolve()
        repo = workdir / "checkout"
        repo.mkdir(parents=True, exist_ok=True)
        self._git(["init", "-q", str(repo)], what="init")
        fetch = ["-C", str(repo), "fetch", "-q", "--depth", "1", "--no-tags", self.url]
        try:
            self._git([*fetch, commit], what=f"fetch {commit}")
        except SourceError:
            # Servers that refuse fetching a commit by id still serve the ref; it must not have moved meanwhile.
            self._git([*fetch, self.ref], what=f"fetch {self.ref}")
            fetched = self._git(["-C", str(repo), "rev-parse", "FETCH_HEAD"], what="rev-parse").strip()
            if fetched != commit:
                raise SourceError(
                    f"git ref '{self.ref}' moved during the sync ({commit} -> {fetched}); sync again"
                ) from None
        self._git(["-C", str(repo), "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"], what="checkout")
        root = _subdir_of(repo, self.subdir, commit)
        if not root.is_dir():
            raise SourceError(f"git sub-directory '{self.subdir}' not found at commit {commit}")
        return root

    def _git(self, args: list[str], *, what: str) -> str:
        # Never wait for a person: no terminal prompt, no askpass helper, ssh in batch mode (unless configured).
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "LC_ALL": "C"}
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        argv = ["git", "-c", "protocol.ext.allow=never", *args]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
                preexec_fn=parent_death_preexec(),  # PR_SET_PDEATHSIG: a killed runner leaves no git behind
            )
        except FileNotFoundError:
            raise SourceError("the git binary is not installed (needed by the git bundle source)") from None
        except subprocess.TimeoutExpired:
            raise SourceError(f"git {what} timed out after {GIT_TIMEOUT_SECONDS:g}s ({safe_url(self.url)})") from None
        if done.returncode != 0:
            detail = " ".join(done.stderr.strip().splitlines()[-2:]) or f"exit code {done.returncode}"
            detail = detail.replace(self.url, safe_url(self.url))
            raise SourceError(f"git {what} failed for {safe_url(self.url)}: {detail}")
        return done.stdout

    def close(self) -> None:
        """Nothing to release."""


def _local_git_url(url: str, manifest_dir: str) -> str:
    if "://" in url or _SCP_LIKE.match(url) or os.path.isabs(url):
        return url
    return os.path.normpath(os.path.join(manifest_dir, url))


def _subdir_of(repo: Path, subdir: str, commit: str) -> Path:
    """``repo/subdir``, refusing a symbolic link on the way (the manifest check already keeps it relative)."""
    current = repo
    for part in Path(subdir).parts if subdir else ():
        current = current / part
        if current.is_symlink():
            raise SourceRefused(
                f"git base_path '{subdir}' is a symbolic link at commit {commit} ('{current.relative_to(repo)}'); "
                "point base_path at a real directory"
            )
    return current
