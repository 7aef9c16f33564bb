"""Licence texts -> SPDX ids and what they allow (licenses.py), over many spellings."""

from __future__ import annotations

import json

import pytest

from sketch2render.licenses import classify, credit_line, info, spdx_id
from sketch2render.schemas import StyleRecord
from sketch2render.styles import default_styles_dir

SPELLINGS = [
    ("CC0", "CC0-1.0"),
    ("cc0 1.0", "CC0-1.0"),
    ("CC-0", "CC0-1.0"),
    ("Creative Commons Zero", "CC0-1.0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ("CC BY 4.0", "CC-BY-4.0"),
    ("cc-by", "CC-BY-4.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC BY 2", "CC-BY-2.0"),
    ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
    ("licence: CC BY 4.0", "CC-BY-4.0"),
    ("CC BY-SA 3.0 Unported", "CC-BY-SA-3.0"),
    ("cc by sa", "CC-BY-SA-4.0"),
    ("CC BY-NC 4.0", "CC-BY-NC-4.0"),
    ("https://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0"),
    ("Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International", "CC-BY-NC-SA-4.0"),
    ("CC-BY-NC-SA-4.0", "CC-BY-NC-SA-4.0"),
    ("CC BY-NC-ND 2.0", "CC-BY-NC-ND-2.0"),
    ("Attribution-NoDerivatives 4.0", "CC-BY-ND-4.0"),
    ("public domain (artist died 1890)", "public-domain"),
    ("Public Domain Mark", "public-domain"),
    ("PD", "public-domain"),
    ("public domain (NASA; ESA licenses its images CC BY 4.0)", "public-domain"),  # the leading phrase decides
    ("All rights reserved", "proprietary"),
    ("© 2024 Studio X", "proprietary"),
    ("(c) Foo", "proprietary"),
    ("Unsplash License", "LicenseRef-Unsplash"),
    ("royalty-free", "LicenseRef-commercial"),
    ("non-commercial use only", "LicenseRef-non-commercial"),
    ("commercial use prohibited", "LicenseRef-non-commercial"),
    ("MIT", "MIT"),
    ("", "unknown"),
    ("   ", "unknown"),
    ("some odd words", "unknown"),
]


@pytest.mark.parametrize(("text", "expected"), SPELLINGS, ids=[s[0] or "blank" for s in SPELLINGS])
def test_spellings_normalise_to_one_id(text, expected):
    assert spdx_id(text) == expected


@pytest.mark.parametrize(
    ("text", "commercial_use", "attribution", "license_class"),
    [
        ("CC0", True, False, "commercial"),
        ("public domain", True, False, "commercial"),
        ("CC BY 4.0", True, True, "commercial-credit"),
        ("CC BY-SA 4.0", True, True, "commercial-credit"),
        ("CC BY-ND 4.0", False, True, "no-derivatives"),
        ("CC BY-NC 4.0", False, True, "non-commercial"),
        ("CC BY-NC-SA 4.0", False, True, "non-commercial"),
        ("All rights reserved", False, True, "restricted"),
        ("", False, True, "unknown"),
    ],
)
def test_classification(text, commercial_use, attribution, license_class):
    found = classify(text)
    assert (found.commercial_use, found.attribution, found.license_class) == (
        commercial_use,
        attribution,
        license_class,
    )


def test_unknown_id_reads_as_unknown_and_labels():
    assert info("GPL-9").id == "unknown"
    assert info("CC-BY-NC-SA-4.0").label == "CC BY-NC-SA 4.0"


def test_credit_line_leaves_out_what_is_not_known():
    assert credit_line("Poppy", "Anon", "met.org", "CC-BY-4.0") == "“Poppy” by Anon, met.org (CC BY 4.0)"
    assert credit_line("", "", "", "unknown") == "Untitled (licence not stated)"


def test_a_record_stored_before_licences_gets_them_on_read():
    old = {"id": "abc123", "width": 4, "height": 4, "added_at": 1.0, "title": "T", "license": "CC BY-NC 4.0"}
    record = StyleRecord.model_validate_json(json.dumps(old))
    assert (record.license_id, record.license_class, record.commercial_use) == (
        "CC-BY-NC-4.0",
        "non-commercial",
        False,
    )
    assert record.license == "CC BY-NC 4.0"  # the text itself is kept


def test_every_bundled_style_is_commercially_usable():
    entries = json.loads((default_styles_dir() / "manifest.json").read_text())
    assert {spdx_id(e["license"]) for e in entries} <= {"public-domain", "CC0-1.0"}
