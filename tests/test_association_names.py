"""Association product names are names, not paths; a member listed twice is refused (issue 13, item 4)."""

import json
import os

import pytest

from gpuresample.cli import main
from gpuresample.errors import InputFileError
from gpuresample.readers import read_association


def _asn(folder, name="mosaic", members=("a_cal.fits",), products=None):
    for m in members:
        (folder / m).write_bytes(b"")  # read_association only checks that members exist
    asn = folder / "x_asn.json"
    body = products if products is not None else [
        {"name": name, "members": [{"expname": m, "exptype": "science"} for m in members]}]
    asn.write_text(json.dumps({"asn_id": "x", "products": body}))
    return asn


@pytest.mark.parametrize("name", ["../evil", "sub/mosaic", "..", "a\\b", "/tmp/abs"])
def test_product_name_with_a_path_is_refused(tmp_path, name):
    with pytest.raises(InputFileError, match=r"product name .* is not a plain file name"):
        read_association(_asn(tmp_path, name))


@pytest.mark.parametrize("name", [5, ["m"]])
def test_product_name_must_be_a_string(tmp_path, name):
    with pytest.raises(InputFileError, match="product name must be a non-empty string"):
        read_association(_asn(tmp_path, name))


def test_plain_names_are_kept(tmp_path):
    assert read_association(_asn(tmp_path, "jw01234-o001_t001_nircam_clear-f200w")).name.startswith("jw01234")
    assert read_association(_asn(tmp_path, "a..b")).name == "a..b"  # two dots inside a name are not '..'


def test_duplicate_members_are_refused(tmp_path):
    with pytest.raises(InputFileError, match=r"same member more than once: .*a_cal\.fits"):
        read_association(_asn(tmp_path, members=("a_cal.fits", "b_cal.fits", "a_cal.fits")))


def test_product_that_is_not_an_object(tmp_path):
    with pytest.raises(InputFileError, match="is not an object"):
        read_association(_asn(tmp_path, products=["abc"]))


def test_cli_writes_nothing_outside_the_folder(tmp_path, monkeypatch, capsys):
    """The reproducer of the issue: `gpuresample <asn>` without -o and the product name "../evil"."""
    work = tmp_path / "work"
    work.mkdir()
    asn = _asn(work, "../evil")
    monkeypatch.chdir(work)
    assert main([str(asn), "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert "not a plain file name" in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["work"]


# ---------------------------------------------------------------- issue 13, item 9: members of the wrong type


@pytest.mark.parametrize(("member", "match"), [
    ({"expname": 5}, r"'expname' must be a non-empty file name \(string\); got 5"),
    ({"expname": None}, r"'expname' must be a non-empty file name \(string\); got None"),
    ({"expname": " "}, r"'expname' must be a non-empty file name"),
    ({"expname": "a_cal.fits", "exptype": 3}, r"'exptype' must be a string such as 'science'; got 3"),
    ({"expname": "a_cal.fits", "group_id": [1]}, r"'group_id' must be a string or an integer; got \[1\]"),
    ({"expname": "a_cal.fits", "group_id": True}, r"'group_id' must be a string or an integer; got True"),
    ("abc", r"association member without 'expname': 'abc'"),
])
def test_members_of_the_wrong_type_are_named(tmp_path, member, match):
    """Before: "unsupported operand ... PosixPath", "'int' object has no attribute 'lower'",
    "unhashable type: 'list'" -- raw errors naming neither the file nor the field."""
    (tmp_path / "a_cal.fits").write_bytes(b"")
    asn = tmp_path / "x_asn.json"
    asn.write_text(json.dumps({"asn_id": "x", "products": [{"name": "m", "members": [member]}]}))
    with pytest.raises(InputFileError, match=match) as info:
        read_association(asn)
    assert str(asn) in str(info.value)


@pytest.mark.parametrize("products", [["abc"], [{"name": "m", "members": "a_cal.fits"}]])
def test_products_of_the_wrong_shape_are_named(tmp_path, products):
    asn = tmp_path / "x_asn.json"
    asn.write_text(json.dumps({"asn_id": "x", "products": products}))
    with pytest.raises(InputFileError, match=r"association product") as info:
        read_association(asn)
    assert str(asn) in str(info.value)


def test_an_integer_group_id_is_kept(tmp_path):
    (tmp_path / "a_cal.fits").write_bytes(b"")
    asn = tmp_path / "x_asn.json"
    asn.write_text(json.dumps({"products": [{"name": "m", "members": [{"expname": "a_cal.fits", "group_id": 7}]}]}))
    assert read_association(asn).group_ids == [7]
