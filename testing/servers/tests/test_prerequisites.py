import pytest

from corral_testservers.prerequisites import require_executable, require_module


def test_missing_binary_skips_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y corral-nothing"):
        require_executable("corral-no-such-binary", apt="corral-nothing")


def test_missing_module_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="pip install corral-nothing"):
        require_module("corral_no_such_module", pip="corral-nothing")
