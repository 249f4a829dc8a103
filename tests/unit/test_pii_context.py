"""Context words: labels next to a value, and table headers naming a value's column."""

from __future__ import annotations

import pytest

from gateway.policy import Redactor
from gateway.policy.context import TABLE_REACH, column_label, has_context

NHS = "UK_NATIONAL_HEALTH_SERVICE_NUMBER"
SIN = "CA_SOCIAL_INSURANCE_NUMBER"
ROUTING = "US_BANK_ROUTING_NUMBER"
SSN = "US_SOCIAL_SECURITY_NUMBER"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def found(redactor: Redactor, text: str) -> list[tuple[str, str]]:
    _, redactions = redactor.redact(text)
    return [(r.type, text[r.start : r.end]) for r in redactions]


# (text, what is found): each value is checksum-valid for the type its column names.
TABLES = [
    # The case: an NHS number shaped like a US phone number, labelled by a header.
    ("id,name,nhs_number\n1,Bob,943 476 5919\n", [(NHS, "943 476 5919")]),
    ("id,name,nhs_number\n1,Bob,9434765919\n2,Al,4010232137\n",
     [(NHS, "9434765919"), (NHS, "4010232137")]),
    ("id,uk_national_health_service_number\n7,943 476 5919\n", [(NHS, "943 476 5919")]),
    ("nhs_number,name\n9434765919,Bob\n", [(NHS, "9434765919")]),  # first column
    # The same number in a phone column is a phone; in an unlabelled column the shape
    # decides (a phone) or, written bare, it is an ID.
    ("id,name,phone\n1,Bob,943 476 5919\n", [("PHONE", "943 476 5919")]),
    ("id,name,mobile\n1,Bob,4155550132\n", [("PHONE", "4155550132")]),
    ("id,name,ticket\n1,Bob,943 476 5919\n", [("PHONE", "943 476 5919")]),
    ("id,name,ticket\n1,Bob,9434765919\n", []),
    # Other delimiters, quoting and layouts.
    ('"Patient","NHS No."\n"Smith, John","943 476 5919"\n', [(NHS, "943 476 5919")]),
    ("name\tNHS number\nBob\t943 476 5919\n", [(NHS, "943 476 5919")]),
    ("bank;routing_number\nChase;021000021\n", [(ROUTING, "021000021")]),
    ("| NHS number | name |\n|---|---|\n| 943 476 5919 | Bob |\n", [(NHS, "943 476 5919")]),
    ("id,name,sin\r\n1,Bob,130 692 544\r\n", [(SIN, "130 692 544")]),
    ("id,ca_social_insurance_number,updated\n1,130-692-544,2024-01-02\n",
     [(SIN, "130-692-544")]),
    ("id,us_bank_routing_number,ref\n1,021000021,x\n", [(ROUTING, "021000021")]),
    ("id,swift_code,ref\n1,DEUTDEFF500,x\n", [("SWIFT_CODE", "DEUTDEFF500")]),
    ("id,ssn\n1,123456789\n", [(SSN, "123456789")]),
    # Rows further down keep their header; an unquoted comma in a later cell does not
    # move the columns before it.
    ("id,nhs\n" + "".join(f"{i},9434765919\n" for i in range(40)),
     [(NHS, "9434765919")] * 40),
    ("id,nhs,updated,ref\n1,9434765919,2024-01-02 10:20:30,123,x\n", [(NHS, "9434765919")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TABLES)
def test_a_table_header_labels_its_column(
    redactor: Redactor, text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(redactor, text) == expected


# Look-alikes: the label is not the value's column header, or the value is not a cell.
NOT_LABELLED = [
    "id,nhs_number\n\n9434765919,Bob\n",  # a blank line ends the table
    "nhs_number,name\nsee below\n9434765919,Bob\n",  # so does a line without delimiters
    "a,b,nhs\n1,2,x 9434765919\n",  # the value does not start its cell
    "nhs,ref\n1,9434765919\n",  # the label names another column
    'ref,nhs\n"a, 9434765919",x\n',  # the delimiter before it is inside quotes
    "id,nhs2024,ref\n1,9434765919,x\n",  # digits inside a name: not a header
    "id,nhs\n1,9434765919x\n",  # not a number of its own
    "routing,bank\n021000022,Chase\n",  # fails the ABA checksum
    "nhs,name\n9434765918,Bob\n",  # fails mod 11
    "Hi team, please check the nhs report before friday\nNoted, 9434765919 twice\n",
]


@pytest.mark.parametrize("text", NOT_LABELLED)
def test_a_header_labels_only_cells_of_its_own_column(redactor: Redactor, text: str) -> None:
    assert found(redactor, text) == []


def test_a_header_too_far_above_gives_no_context(redactor: Redactor) -> None:
    row = "1,9434765919\n"
    near = "id,nhs\n" + "1,x\n" * ((TABLE_REACH - 20) // 4) + row
    far = "id,nhs\n" + "1,x\n" * ((TABLE_REACH + 20) // 4) + row
    assert found(redactor, near) == [(NHS, "9434765919")]
    assert found(redactor, far) == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("bank_routing_number=021000021", ROUTING, "021000021"),
        ("customer-ssn: 123456789", SSN, "123456789"),
        ("NHSNumber 9434765919", NHS, "9434765919"),
        ('{"work_phone": "4155550132"}', "PHONE", "4155550132"),
        ("sin_no 130 692 544", SIN, "130 692 544"),
    ],
)
def test_snake_and_camel_case_labels_count(
    redactor: Redactor, text: str, kind: str, value: str
) -> None:
    assert found(redactor, text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "basin 130 692 544",  # "sin" must start a word
        "sinus 130 692 544",  # and, written "sin$", end one
        "ssn 123 then 123456789",  # another number stands between label and value
        "ssn\n123456789",  # a label on the line before is not the value's label
    ],
)
def test_words_that_only_contain_a_label_do_not_count(redactor: Redactor, text: str) -> None:
    assert [kind for kind, _ in found(redactor, text) if kind in (SIN, SSN)] == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("a,b\n1,X", "b"),
        ("a,b\n X", "a"),
        ('"a, b",c\n"1, 2",X', "c"),
        ("a;b\n1;X", "b"),
        ("a\tb\n1\tX", "b"),
        ("| a | b |\n|---|---|\n| 1 | X", " b "),
        ("a,b\n1,2\n3,X", "b"),
        ('a,b\n1,"X', "b"),
        ("a,b\n1,2,3,X", None),  # past the header's last column
        ("a,b\n1 X", None),
        ("a,b,c\n1,X", "b"),
        ("1,2\n3,X", None),  # no header
        ("X", None),
    ],
)
def test_column_label(text: str, label: str | None) -> None:
    assert column_label(text, text.index("X"), {}) == label


def test_context_needs_no_table_to_find_a_label_on_the_line() -> None:
    text = "routing: 021000021"
    assert has_context(("routing",), text, text.index("0"), {})
    assert not has_context(("swift",), text, text.index("0"), {})
