from energystat.creditcode import check_character, is_valid, is_well_formed


def test_published_codes_validate() -> None:
    # Codes printed on public business licences (check characters computed by the issuing authorities).
    for code in ("91350100M000100Y43", "91110000600037341L"):
        assert is_valid(code), code


def test_wrong_check_character_is_invalid() -> None:
    code = "91110000600037341L"
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    assert is_well_formed(wrong) and not is_valid(wrong)


def test_shape_rules() -> None:
    assert not is_well_formed("9111000060003734")  # too short
    assert not is_well_formed("91110000600037341I")  # I is not in the alphabet
    assert check_character("91110000600037341") == "L"
