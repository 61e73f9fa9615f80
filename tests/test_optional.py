import sys

import pytest

from sknorm._optional import import_optional


def test_a_missing_package_is_not_installed():
    with pytest.raises(ImportError, match=r"not installed.*sknorm\[report\]"):
        import_optional("no_such_package_xyz.sub", "report", "the report")


def test_a_package_that_fails_to_import_is_not_called_missing(tmp_path, monkeypatch):
    # installed, but one of its own imports fails (a broken install, or a
    # local file shadowing a dependency): the message says so, with the cause
    (tmp_path / "brokenpkg_xyz").mkdir()
    (tmp_path / "brokenpkg_xyz" / "__init__.py").write_text(
        "import missing_dependency_xyz\n"
    )
    (tmp_path / "raisingpkg_xyz.py").write_text("raise ImportError('bad build')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("brokenpkg_xyz", "raisingpkg_xyz"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(
        ImportError, match=r"brokenpkg_xyz, which is installed but failed.*missing_dep"
    ) as info:
        import_optional("brokenpkg_xyz", "onnx", "ONNX export")
    assert "not installed" not in str(info.value)
    with pytest.raises(ImportError, match=r"installed but failed to import: bad"):
        import_optional("raisingpkg_xyz", "onnx", "ONNX export")
