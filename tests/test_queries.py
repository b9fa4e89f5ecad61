"""The named queries in queries/: each runs on the built store and answers from the article, with sources."""

from __future__ import annotations

import csv
from pathlib import Path

import pyoxigraph as ox
import pytest

from mildip_ld.release.build import BuildReport
from mildip_ld.release.store import open_store
from mildip_ld.vocab.queries import NamedQuery, named_queries

from .conftest import ROOT, WIKIDATA_REFERENCE

QUERIES = {q.name: q for q in named_queries(ROOT / "queries")}
FEDERATED = {name for name, q in QUERIES.items() if "SERVICE <" in q.text}  # need Wikidata: not run here
LOCAL = sorted(set(QUERIES) - FEDERATED)
MD = "https://w3id.org/mildip/ontology#"
MDR = "https://w3id.org/mildip/id/"
SOURCE_TEXT = (ROOT / "data" / "sources" / "military-diplomacy-in-russia.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def store(built: BuildReport) -> ox.Store:
    return open_store(built.release)


def rows(store: ox.Store, name: str) -> list[dict[str, str]]:
    solutions = store.query(QUERIES[name].text, use_default_graph_as_union=True)
    variables = [v.value for v in solutions.variables]
    return [{v: (s[v].value if s[v] is not None else None) for v in variables} for s in solutions]


def column(store: ox.Store, name: str, variable: str) -> set[str]:
    return {row[variable] for row in rows(store, name) if row[variable] is not None}


def test_there_are_at_least_ten_named_queries_each_with_a_question():
    assert len(LOCAL) >= 10
    assert FEDERATED == {"wikidata-federated"}
    for query in QUERIES.values():
        assert query.question.endswith("?") or "?" in query.question, query.name


@pytest.mark.parametrize("name", LOCAL)
def test_every_query_answers_and_every_quote_is_in_the_source(store: ox.Store, name: str):
    answer = rows(store, name)
    assert answer, f"{name} returned nothing"
    for row in answer:
        if row.get("quote") is not None:
            assert row["quote"] in SOURCE_TEXT


def test_csto_members_are_the_five_the_article_lists_and_russia(store: ox.Store):
    answer = rows(store, "csto-members")
    listed = {row["memberLabel"] for row in answer if "comprising countries such as" in row["quote"]}
    assert listed == {"Belarus", "Armenia", "Kazakhstan", "Kyrgyzstan", "Tajikistan"}
    assert all("Collective Security Treaty Organization" in row["quote"] for row in answer)
    russia = {row["quote"] for row in answer if row["memberLabel"] == "Russia"}
    assert russia and all("Russia actively participates" in quote for quote in russia)
    assert {row["memberLabel"] for row in answer} == listed | {"Russia"}


def test_peace_mission_is_an_exercise_with_china(store: ox.Store):
    exercises = {row["exerciseLabel"]: row for row in rows(store, "joint-exercises")}
    peace = next(row for label, row in exercises.items() if "Peace Mission" in label)
    assert "China" in peace["partners"]
    assert '"Peace Mission"' in peace["quote"]


def test_russia_exports_fighter_jets_and_missile_systems_to_india(store: ox.Store):
    to_india = {row["itemLabel"] for row in rows(store, "arms-transfers") if row["recipientLabel"] == "India"}
    assert {"advanced fighter jets", "missile systems"} <= to_india


def test_hedged_claims_carry_their_cue_and_only_hedged_modalities(store: ox.Store):
    answer = rows(store, "hedged-claims")
    assert {row["modality"].rsplit("#", 1)[-1] for row in answer} <= {"likely", "possible"}
    for row in answer:
        assert row["cue"].lower() in row["quote"].lower()
    assert {"might", "likely", "may"} <= {row["cue"].lower() for row in answer}


def test_soviet_period_used_the_warsaw_pact(store: ox.Store):
    pairs = {(r["periodLabel"], r["frameworkLabel"]) for r in rows(store, "periods-and-frameworks")}
    assert ("Soviet period", "Warsaw Pact") in pairs


def test_challenges_include_sanctions_and_budget_constraints(store: ox.Store):
    labels = " ".join(column(store, "challenges", "challengeLabel")).lower()
    assert "sanctions" in labels and "budget" in labels


def test_technologies_include_those_of_the_technology_section(store: ox.Store):
    labels = column(store, "technologies", "technologyLabel")
    assert {
        "artificial intelligence",
        "unmanned systems",
        "satellite systems",
        "cyber capabilities",
    } <= labels


def test_russia_takes_part_in_the_sco_and_the_csto(store: ox.Store):
    frameworks = column(store, "forums-and-frameworks", "frameworkLabel")
    assert {"Shanghai Cooperation Organisation", "Collective Security Treaty Organization"} <= frameworks


def test_countered_factors_include_nato_expansion_and_western_influence(store: ox.Store):
    factors = column(store, "countered-factors", "factorLabel")
    assert {"NATO's eastward expansion", "Western influence"} <= factors


def test_wikidata_links_match_the_reference(store: ox.Store):
    with WIKIDATA_REFERENCE.open(encoding="utf-8") as handle:
        reference = {row["qid"] for row in csv.DictReader(handle, delimiter="\t")}
    answer = rows(store, "wikidata-links")
    linked = {row["wikidataId"] for row in answer if row["wikidataId"]}
    assert linked and linked <= reference
    for row in answer:
        if row["wikidataId"]:
            assert row["wikidata"] == f"http://www.wikidata.org/entity/{row['wikidataId']}"


def test_which_sentence_returns_offsets_that_match_the_quote(store: ox.Store):
    for row in rows(store, "which-sentence"):
        assert SOURCE_TEXT[int(row["start"]) : int(row["end"])] == row["quote"]


def test_inferred_about_russia_reads_only_the_inferred_graph(store: ox.Store):
    properties = column(store, "inferred-about-russia", "property")
    assert "https://w3id.org/mildip/ontology#engagesWith" in properties
    assert "http://www.w3.org/2000/01/rdf-schema#label" not in properties


def test_named_query_reads_question_from_first_comment(tmp_path: Path):
    file = tmp_path / "q.rq"
    file.write_text("# What is asked?\nSELECT * WHERE { ?s ?p ?o }\n")
    assert NamedQuery.read(file).question == "What is asked?"


def _inferred_about(store: ox.Store, subject: str) -> set[tuple[str, str]]:
    query = f"SELECT ?p ?o WHERE {{ GRAPH <https://w3id.org/mildip/graph/inferred> {{ <{subject}> ?p ?o }} }}"
    return {(s["p"].value, s["o"].value) for s in store.query(query)}


def test_inferred_about_russia_shows_how_firmly_each_holds_and_its_sentences(store: ox.Store):
    answer = rows(store, "inferred-about-russia")
    russia = "https://w3id.org/mildip/id/russia"
    assert {(row["property"], row["value"]) for row in answer} == _inferred_about(store, russia)
    assert len(answer) == len(_inferred_about(store, russia))  # one modality each
    by_triple = {(row["property"], row["value"]): row for row in answer}
    assert by_triple[(MD + "engagesWith", MDR + "china")]["modality"] == MD + "stated"
    row = by_triple[(MD + "usesTechnology", MDR + "technology/advanced-weaponry")]
    assert row["modality"] == MD + "possible" and row["sentences"] == "1"  # line 57's "may", alone
    assert all(int(row["sentences"]) >= 1 for row in answer if row["modality"] != MD + "stated")
    assert {row["modality"] for row in answer} >= {MD + "stated", MD + "possible"}


def test_derived_facts_from_stated_claims_only_leave_out_every_hedged_one(store: ox.Store):
    stated, hedged = (
        {(row["subject"], row["property"], row["value"]) for row in rows(store, name)}
        for name in ("derived-from-stated-claims", "hedged-derivations")
    )
    assert (MDR + "russia", MD + "engagesWith", MDR + "china") in stated
    assert (MDR + "russia", MD + "usesTechnology", MDR + "technology/advanced-weaponry") in hedged
    assert stated and hedged and not stated & hedged
    for row in rows(store, "hedged-derivations"):
        assert row["modality"] in {MD + "forecast", MD + "likely", MD + "possible"}


def test_supporting_sentences_are_every_sentence_of_an_engagement_of_russia_with_china(store: ox.Store):
    answer = rows(store, "supporting-sentences")
    stating = """
        PREFIX md: <https://w3id.org/mildip/ontology#> PREFIX mdr: <https://w3id.org/mildip/id/>
        SELECT DISTINCT ?passage WHERE { GRAPH <https://w3id.org/mildip/graph/asserted> {
          { ?a md:hasAgent mdr:russia ; md:hasPartner mdr:china } UNION
          { ?a md:hasAgent mdr:china ; md:hasPartner mdr:russia }
          ?a md:statedIn ?passage } }"""
    expected = {s["passage"].value for s in store.query(stating)}
    assert len(expected) >= 2
    assert expected <= {row["passage"] for row in answer}


# --- issue 16: aims apart from outcomes, memberships, relations, derived views ------------------


def test_line_18_promotes_common_interests_among_nations_not_russias_own(store: ox.Store):
    quote = "promotion of common interests"
    line18 = [r for r in rows(store, "outcomes-by-instrument") if quote in r["quote"]]
    assert {r["outcomeLabel"] for r in line18} == {
        "promotion of common interests among nations",
        "exchange of military resources and strategic mutual support among partners",
    }
    aims = [r for r in rows(store, "aims-by-instrument") if quote in r["quote"]]
    assert not aims, "line 18 says what the partnerships allow, not what they are for"


def test_line_75_enhances_mutual_security_interests_not_collective_defence(store: ox.Store):
    quote = "enhances mutual security interests"
    line75 = [r for r in rows(store, "outcomes-by-instrument") if quote in r["quote"]]
    labels = {r["outcomeLabel"] for r in line75}
    assert "mutual security interests enhanced" in labels
    assert not [label for label in labels if "collective" in label]
    assert not [r for r in rows(store, "aims-by-instrument") if quote in r["quote"]]


def test_countering_is_encoded_only_as_a_countered_factor(store: ox.Store):
    aims = column(store, "aims-by-instrument", "aimLabel")
    assert not [label for label in aims if "counter" in label.lower()]
    factors = rows(store, "countered-factors")
    countering = {r["quote"] for r in factors if r["factorLabel"] == "Western influence"}
    for quote in (
        "Countering Western influence is another vital aspect of military diplomacy.",
        "In countering Western influence, Russia leverages military diplomacy",
    ):
        assert any(quote in q for q in countering), quote


def test_every_state_placed_in_an_organization_is_a_member(store: ox.Store):
    pairs = {(r["memberLabel"], r["organizationLabel"]) for r in rows(store, "memberships")}
    csto, sco = "Collective Security Treaty Organization", "Shanghai Cooperation Organisation"
    assert {("Russia", csto), ("Russia", sco), ("Soviet Union", "Warsaw Pact"), ("Belarus", csto)} <= pairs
    co = {(r["memberLabel"], r["coMemberLabel"]) for r in rows(store, "co-members")}
    assert ("Russia", "Belarus") in co and ("Belarus", "Russia") in co
    assert ("Soviet Union", "Belarus") not in co


def test_arms_trade_is_often_accompanied_by_training_and_advisory_support(store: ox.Store):
    relations = {
        (r["activityLabel"], r["relation"].rsplit("#", 1)[1], r["otherLabel"])
        for r in rows(store, "activity-relations")
    }
    trade = "Russia's arms trade: military equipment"
    accompanying = {
        other
        for label, relation, other in relations
        if relation == "accompaniedBy" and label.startswith(trade)
    }
    assert accompanying == {
        "military training accompanying Russia's arms trade",
        "advisory support accompanying Russia's arms trade",
    }
    often = {r["claimLabel"] for r in rows(store, "frequency-qualified") if r["cue"] == "often"}
    assert "advisory support accompanying Russia's arms trade" in often
    increasingly = [r for r in rows(store, "frequency-qualified") if r["cue"] == "increasingly"]
    assert any("increasingly utilized arms trade" in r["quote"] for r in increasingly)


def test_economic_challenges_lead_to_restricted_funding_which_limits_participation(store: ox.Store):
    chain = {(r["causeLabel"], r["consequenceLabel"]) for r in rows(store, "causes-and-consequences")}
    causes = {cause for cause, _ in chain}
    assert "economic challenges that can restrict military funding" in causes
    funding = next(c for c in causes if c.startswith("restricted military funding"))
    consequences = {consequence for cause, consequence in chain if cause == funding}
    assert any(consequence.startswith("limited participation") for consequence in consequences)


def test_peace_mission_is_a_named_event_of_the_practice_of_exercising_with_china(store: ox.Store):
    kinds = {r["exerciseLabel"]: r["kind"] for r in rows(store, "joint-exercises")}
    assert [label for label, kind in kinds.items() if kind == "named event"] == [
        '"Peace Mission" joint military drills of Russia and China'
    ]
    occurrence = [r for r in rows(store, "activity-relations") if r["relation"].endswith("occurrenceOf")]
    practice = "joint exercises of Russia and its armed forces with China"
    assert [r["otherLabel"] for r in occurrence] == [practice]


def test_derived_views_answer_by_instrument_and_by_region(store: ox.Store):
    by_kind = {
        (r["partnerLabel"], r["kindLabel"])
        for r in rows(store, "engagement-by-instrument")
        if r["agentLabel"] == "Russia"
    }
    assert ("India", "equipment and material cooperation") in by_kind
    assert ("China", "military exercise") in by_kind
    by_region = {(r["regionLabel"], r["partnerLabel"]) for r in rows(store, "partners-by-region")}
    assert ("Eastern Europe", "Serbia") in by_region and ("Asia-Pacific", "Vietnam") in by_region
    ends = {
        (r["endLabel"], r["how"])
        for r in rows(store, "aims-and-outcomes-by-end")
        if r["agentLabel"] == "Russia"
    }
    assert ("alliances and partnerships", "aim") in ends and ("alliances and partnerships", "outcome") in ends
