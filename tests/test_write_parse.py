"""The parse step of writes on its own (:mod:`mildip_ld.curation.write_parse`): what passes, what is refused,
and that no input makes it fail in any other way (fuzzed).

The same documents sent to a live server, with the budget, the canary and the writer, are in
tests/test_hostile_writes.py.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mildip_ld.curation.write_parse import ParseRefusedError, _start, parse_triples, parse_update

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
FORMATS = [
    "application/rdf+xml",
    "text/xml",
    "application/ld+json",
    "application/json",
    "text/turtle",
    "application/n-triples",
    "application/trig",
    "application/n-quads",
    "text/n3",
]


def test_rdf_xml_without_a_dtd_is_read() -> None:
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:e="urn:e:">'
        f'<rdf:Description rdf:about="urn:x:s"><e:p xml:lang="en">caf\u00e9</e:p></rdf:Description>'
        f"</rdf:RDF>"
    )
    assert (
        parse_triples(document.encode(), "application/rdf+xml", "urn:x:g")
        == '<urn:x:s> <urn:e:p> "caf\u00e9"@en .\n'.encode()
    )


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE rdf:RDF>",  # a DTD alone, with nothing declared
        '<!DOCTYPE rdf:RDF [<!ENTITY e "x">]>',
        '<!DOCTYPE rdf:RDF PUBLIC "-//W3C//DTD XHTML 1.0//EN" "urn:x:dtd">',
    ],
)
def test_any_dtd_is_refused(doctype: str) -> None:
    document = f'<?xml version="1.0"?>{doctype}<rdf:RDF xmlns:rdf="{RDF_NS}"/>'
    with pytest.raises(ParseRefusedError, match="DTD or entity declarations is not accepted") as refused:
        parse_triples(document.encode(), "application/xml", None)
    assert refused.value.status == 400


def test_a_dtd_in_another_encoding_is_refused_too() -> None:
    document = (
        f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]>'
        f'<rdf:RDF xmlns:rdf="{RDF_NS}"/>'
    )
    with pytest.raises(ParseRefusedError, match="DTD"):
        parse_triples(document.encode("utf-16"), "application/rdf+xml", None)


def test_json_ld_with_an_inline_context_is_read() -> None:
    document = {
        "@context": [None, {"p": {"@id": "urn:e:p", "@type": "@id"}}],
        "@id": "urn:x:s",
        "p": "urn:x:o",
        "urn:e:n": 123456789012345678901234567890,
    }
    triples = parse_triples(json.dumps(document).encode(), "application/ld+json", None).decode()
    assert "<urn:x:s> <urn:e:p> <urn:x:o> .\n" in triples and "1.2345678901234567890123456789E29" in triples


def test_nesting_up_to_the_limit_is_read() -> None:
    document = {"@id": "urn:x:s0"}
    for depth in range(1, 40):  # 40 node objects, each a property value of the one above: 79 levels
        document = {"@id": f"urn:x:s{depth}", "urn:e:p": [document]}
    triples = parse_triples(json.dumps(document).encode(), "application/ld+json", None, max_nesting=80)
    assert triples.count(b"\n") == 39
    with pytest.raises(ParseRefusedError, match="deeper than the limit of 78 levels"):
        parse_triples(json.dumps(document).encode(), "application/ld+json", None, max_nesting=78)


def test_updates_use_the_prefixes_a_release_predefines() -> None:
    prefixes = _start({})
    parse_update("INSERT DATA { GRAPH <urn:x:g> { mdr:x rdfs:label 'x' } }", prefixes)
    with pytest.raises(ParseRefusedError, match="malformed update"):
        parse_update("INSERT DATA { GRAPH <urn:x:g> { nope:x rdfs:label 'x' } }", prefixes)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
json_keys = st.sampled_from(["@context", "@id", "@graph", "@import", "@type", "@value", "urn:e:p", "p"])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["@context", "@id", "@import", "urn:x:a", "http://127.0.0.1:9/"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4),
    max_leaves=30,
)
xml_pieces = st.lists(
    st.sampled_from(
        [
            "<?xml version='1.0'?>",
            "<!DOCTYPE r [",
            "<!ENTITY e 'x'>",
            "]>",
            "&e;",
            f'<rdf:RDF xmlns:rdf="{RDF_NS}">',
            "</rdf:RDF>",
            '<rdf:Description rdf:about="urn:x:s">',
            "</rdf:Description>",
            "<e:p xmlns:e='urn:e:'>",
            "</e:p>",
            "text",
            "<![CDATA[x]]>",
            "<!-- c -->",
            "<?pi x?>",
            "&#x0;",
            "&amp;",
        ]
    ),
    max_size=12,
)


@FUZZ
@given(body=st.binary(max_size=400), media_type=st.sampled_from(FORMATS))
def test_any_bytes_are_read_or_refused(body: bytes, media_type: str) -> None:
    _read_or_refused(body, media_type)


@FUZZ
@given(document=json_values)
def test_any_json_is_read_or_refused(document: object) -> None:
    _read_or_refused(json.dumps(document).encode(), "application/ld+json")


@FUZZ
@given(pieces=xml_pieces)
def test_any_xml_is_read_or_refused(pieces: list[str]) -> None:
    _read_or_refused("".join(pieces).encode(), "application/rdf+xml")


def _read_or_refused(body: bytes, media_type: str) -> None:
    """N-Triples out, or a 400 with a message: never another exception."""
    try:
        triples = parse_triples(body, media_type, "urn:x:g")
    except ParseRefusedError as refused:
        assert refused.status == 400 and refused.message
    else:
        assert isinstance(triples, bytes)


@pytest.mark.server
def test_the_parser_process_answers_a_refusal() -> None:
    """Run as ``python -m`` (where the module's code after its ``__main__`` block never runs), the
    parser answers a malformed document with its 400, not by dying (which the server took for 413)."""
    import asyncio

    from mildip_ld.curation.write_parse import ParserConfig
    from mildip_ld.engine.pool import WorkerPool

    async def scenario() -> None:
        pool = WorkerPool(ParserConfig(), 1, module="mildip_ld.curation.write_parse")
        await pool.start()
        try:
            job = {
                "op": "graph",
                "payload": base64.b64encode(b"<a> <b> ").decode(),
                "media_type": "text/turtle",
            }
            reply = await pool.run(job, 30)
        finally:
            await pool.close()
        assert reply.status == 400 and b"malformed Turtle document" in reply.body

    asyncio.run(scenario())
