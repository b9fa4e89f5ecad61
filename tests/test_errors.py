"""The one exception hierarchy: every error the product raises on purpose is a MildipError whose
status is an HTTP error status (what the kernel refuses stays an OSError with its errno)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import mildip_ld
from mildip_ld.release.search_index import SearchError, match_expression
from mildip_ld.server.protocol import ProtocolError
from mildip_ld.vocab.errors import MildipError


def _product_exceptions() -> list[type[BaseException]]:
    found = []
    for module_info in pkgutil.walk_packages(mildip_ld.__path__, "mildip_ld."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_error_of_the_product_is_a_mildip_error_with_an_http_status():
    errors = _product_exceptions()
    assert len(errors) >= 15  # the walk found the package's errors, not an empty list
    outside = [e.__qualname__ for e in errors if not issubclass(e, MildipError | OSError)]
    assert outside == []
    for error in errors:
        if issubclass(error, MildipError):
            assert 400 <= error.status <= 599, error


def test_a_raise_may_give_its_own_status_and_headers():
    refused = ProtocolError(413, "too large", {"Retry-After": "1"})
    assert (refused.status, refused.message, refused.headers) == (413, "too large", {"Retry-After": "1"})
    assert MildipError("x").status == 500 and MildipError("x").headers == {}


def test_a_refusal_raised_by_the_code_carries_its_class_status():
    try:
        match_expression("word " * 1000)
    except MildipError as refused:
        assert isinstance(refused, SearchError)
        assert refused.status == 400 and "limit" in refused.message
    else:
        raise AssertionError("a 1000-word search text was accepted")
