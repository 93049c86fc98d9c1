"""An upstream-shaped SMB connector (``smb:localshare``) serving a local directory: ``list(dir)`` and ``read_bytes``.

What a legacy SMB plugin offers the ``smb`` bundle source; the "share" is ``config.root`` on the local disk.
"""

import os

from aetherflow.core.api import RemoteFileMeta, register_connector


@register_connector("smb", "localshare")
class LocalShare:
    def __init__(self, config, options):
        self.root = config["root"]
        self.options = options

    def _local(self, path):
        return os.path.join(self.root, path.strip("/"))

    def list(self, remote_dir):
        out = []
        for name in sorted(os.listdir(self._local(remote_dir))):
            full = os.path.join(self._local(remote_dir), name)
            st = os.stat(full)
            out.append(
                RemoteFileMeta(
                    path=f"{remote_dir.rstrip('/')}/{name}",
                    name=name,
                    is_dir=os.path.isdir(full),
                    size=st.st_size,
                    mtime=st.st_mtime,
                )
            )
        return out

    def read_bytes(self, path):
        with open(self._local(path), "rb") as handle:
            return handle.read()
