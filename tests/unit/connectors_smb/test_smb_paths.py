"""How the SMB connectors read remote paths: the accepted forms, and the ones refused before any request."""

from __future__ import annotations

import pytest

from aetherflow.api import ConnectorError
from aetherflow.connectors._smb_paths import SmbPath, join_remote, parse_smb_path


def parse(raw: str, share: str | None = "DATA") -> SmbPath:
    return parse_smb_path(raw, default_share=share, server="files.example")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("dir/file.txt", SmbPath("DATA", ("dir", "file.txt"))),
        ("/dir/file.txt", SmbPath("DATA", ("dir", "file.txt"))),
        ("\\dir\\sub\\file.txt", SmbPath("DATA", ("dir", "sub", "file.txt"))),
        ("", SmbPath("DATA", ())),
        ("/", SmbPath("DATA", ())),
        ("Produktion:/DIAS/x", SmbPath("Produktion", ("DIAS", "x"))),
        ("Produktion:\\DIAS\\x", SmbPath("Produktion", ("DIAS", "x"))),
        ("Produktion:", SmbPath("Produktion", ())),
        ("C:\\dir\\file.txt", SmbPath("DATA", ("dir", "file.txt"))),
        ("c:/dir", SmbPath("DATA", ("dir",))),
        ("\\\\files.example\\Other\\dir\\f", SmbPath("Other", ("dir", "f"))),
        ("//FILES.example/Other", SmbPath("Other", ())),
        ("a/./b//c/../d", SmbPath("DATA", ("a", "b", "d"))),
        ("a b/ünï 日本/..x..", SmbPath("DATA", ("a b", "ünï 日本", "..x.."))),
    ],
)
def test_every_upstream_path_form_names_a_share_and_components(raw: str, expected: SmbPath) -> None:
    assert parse(raw) == expected


@pytest.mark.parametrize("raw", ["..", "../x", "a/../../x", "/..", "Produktion:/../x", "\\\\files.example\\s\\..\\.."])
def test_a_path_climbing_above_the_share_root_is_refused(raw: str) -> None:
    with pytest.raises(ConnectorError, match="escapes the share root") as caught:
        parse(raw)
    assert caught.value.transient is False


def test_a_unc_path_to_another_server_is_refused_so_credentials_stay_with_their_server() -> None:
    with pytest.raises(ConnectorError, match=r"is on server 'evil\.example', not this resource's 'files\.example'"):
        parse("\\\\evil.example\\DATA\\x")


@pytest.mark.parametrize("raw", ["a*.txt", "x?", "f:stream", "a\x00b", "new\nline", "p|q", "<x>", 'q"t'])
def test_names_smb_cannot_carry_are_refused_before_any_request(raw: str) -> None:
    with pytest.raises(ConnectorError, match="character SMB names cannot hold"):
        parse(f"dir/{raw}")


def test_without_a_share_in_the_config_or_the_path_the_error_says_how_to_give_one() -> None:
    with pytest.raises(ConnectorError, match=r"set config\.share or write 'SHARE:/path'"):
        parse("dir/file", share=None)


@pytest.mark.parametrize(
    ("remote_dir", "expected"),
    [
        ("in", "in/a/b.csv"),
        ("in/", "in/a/b.csv"),
        ("/", "a/b.csv"),
        ("S:/", "S:/a/b.csv"),
        ("C:\\in\\", "C:\\in/a/b.csv"),
    ],
)
def test_listed_paths_keep_the_form_the_flow_gave(remote_dir: str, expected: str) -> None:
    joined = join_remote(remote_dir, "a/b.csv")
    assert joined == expected
    assert parse(joined).parts[-2:] == ("a", "b.csv")
