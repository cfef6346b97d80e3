"""The synthetic institution registry (公共机构基本信息): codes, names, kinds, levels, size, activity period."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from energystat import creditcode, reference
from energystat.synth.names import COUNTIES, REGION_PLACE, institution_name

#: Share of the province's institutions each reporter files for (roughly by population; a generator choice).
REPORTER_WEIGHTS: dict[str, float] = {
    "450000": 0.08, "450100": 0.15, "450200": 0.08, "450300": 0.09, "450400": 0.055, "450500": 0.04,
    "450600": 0.025, "450700": 0.055, "450800": 0.07, "450900": 0.095, "451000": 0.07, "451100": 0.04,
    "451200": 0.065, "451300": 0.04, "451400": 0.045,
}

#: Per 单位类型: share of institutions, median headcount, m² per person, annual kgce and water (t) per person —
#: chosen so the province lands near the national means (≈320 kgce/person, ≈18 kgce/m², ≈21 t/person).
SUBKIND_PROFILE = pd.DataFrame(
    [
        # subkind,  share, headcount, m2/person, kgce/person, t/person
        ("机关", 0.35, 60, 30, 330, 20),
        ("高等学校", 0.02, 8000, 25, 400, 35),
        ("中小学校", 0.30, 1200, 8, 170, 10),
        ("医院", 0.06, 800, 50, 1450, 70),
        ("场馆", 0.03, 40, 80, 1000, 30),
        ("其他", 0.20, 80, 25, 450, 25),
        ("团体", 0.04, 20, 20, 280, 15),
    ],
    columns=["subkind", "share", "headcount", "m2_per_person", "kgce_per_person", "water_per_person"],
).set_index("subkind")

#: Share of institutions that join (active_from inside the period) or leave (active_to inside it).
JOIN_SHARE = 0.02
LEAVE_SHARE = 0.02
#: Registration authority + kind characters of the credit code (GB 32100-2015: 1 = 机构编制; 1 机关, 2 事业单位,
#: 3 群众团体).
_CODE_PREFIX = {"党政机关": "11", "事业单位": "12", "团体组织": "13"}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation-code check


def reporter_counts(institutions: int) -> dict[str, int]:
    """Institutions per reporter: proportional to REPORTER_WEIGHTS (largest remainder), at least 2 each."""
    codes = reference.reporter_codes()
    weights = np.array([REPORTER_WEIGHTS[c] for c in codes])
    weights = weights / weights.sum()
    minimum = 2
    if institutions < minimum * len(codes):
        raise ValueError(f"need at least {minimum * len(codes)} institutions (2 per reporter), got {institutions}")
    spare = institutions - minimum * len(codes)
    exact = weights * spare
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: spare - counts.sum()]] += 1
    return {code: int(n) + minimum for code, n in zip(codes, counts, strict=True)}


def _org_code_check(body8: str) -> str:
    remainder = 11 - sum(int(ch) * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def credit_codes(prefixes: list[str], regions: list[str], rng: np.random.Generator) -> list[str]:
    """Distinct valid 18-character codes: 2-char prefix + 6-digit region + 9-char organisation code + check."""
    bodies = rng.choice(90_000_000, size=len(prefixes), replace=False) + 10_000_000
    codes = []
    for prefix, region, body in zip(prefixes, regions, bodies, strict=True):
        org = f"{body:08d}"
        first17 = f"{prefix}{region}{org}{_org_code_check(org)}"
        codes.append(first17 + creditcode.check_character(first17))
    return codes


def build_registry(institutions: int, years: list[int], rng: np.random.Generator) -> pd.DataFrame:
    """The registry frame: columns of forms.REGISTRY_COLUMNS plus generator-only columns (inst, factors)."""
    kinds = reference.institution_kinds()
    subkinds = list(SUBKIND_PROFILE.index)
    frames = []
    for reporter, n in reporter_counts(institutions).items():
        share = SUBKIND_PROFILE["share"].to_numpy().copy()
        if reporter == "450000":  # region level: more universities and hospitals, fewer schools
            share = share * np.array([1.3, 4.0, 0.3, 1.5, 1.5, 1.2, 1.0])
        share = share / share.sum()
        subkind = rng.choice(subkinds, size=n, p=share)
        if reporter == "450000":
            level = np.full(n, "区直")
            place = np.full(n, REGION_PLACE)
            region_code = np.full(n, "450000")
        else:
            level = np.where(rng.random(n) < 0.3, "市直", "县级")
            counties = COUNTIES[reporter]
            county_index = rng.integers(0, len(counties), size=n)
            city = reference.reporter_name(reporter)
            place = np.where(level == "市直", city, np.array(counties)[county_index])
            region_code = np.where(level == "市直", reporter,
                                   np.char.add(reporter[:4], np.char.zfill((county_index + 2).astype(str), 2)))
        frames.append(pd.DataFrame({"reporter_code": reporter, "institution_subkind": subkind,
                                    "admin_level": level, "place": place, "region_code": region_code}))
    reg = pd.concat(frames, ignore_index=True)
    reg["institution_kind"] = reg["institution_subkind"].map(kinds)
    # names: the k-th institution of a subkind in a place gets the k-th name of that place
    reg["k"] = reg.groupby(["place", "institution_subkind"]).cumcount()
    reg["institution_name"] = [
        institution_name(p, s, k, lvl == "区直")
        for p, s, k, lvl in zip(reg["place"], reg["institution_subkind"], reg["k"], reg["admin_level"], strict=True)
    ]
    reg["credit_code"] = credit_codes(reg["institution_kind"].map(_CODE_PREFIX).tolist(),
                                      reg["region_code"].tolist(), rng)

    profile = SUBKIND_PROFILE.loc[reg["institution_subkind"]]
    n = len(reg)

    def clipped_normal(sigma: float) -> np.ndarray:  # lognormal spread without implausible tails
        return np.exp(np.clip(rng.standard_normal(n), -2.5, 2.5) * sigma)

    headcount = profile["headcount"].to_numpy() * clipped_normal(0.45)
    reg["headcount"] = np.maximum(np.rint(headcount), 3).astype(int)
    reg["floor_area_m2"] = np.round(reg["headcount"] * profile["m2_per_person"].to_numpy() * clipped_normal(0.2), 1)
    # persistent behaviour of each institution
    reg["energy_factor"] = clipped_normal(0.22)
    reg["water_factor"] = clipped_normal(0.22)
    reg["kgce_per_person"] = profile["kgce_per_person"].to_numpy()
    reg["water_per_person"] = profile["water_per_person"].to_numpy()

    first, last = min(years), max(years)
    established = rng.integers(1985, first, size=n)
    reg["active_from"] = [dt.date(int(y), 1, 1).isoformat() for y in established]
    reg["active_to"] = ""
    months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
    # joiners and leavers are small units (new or merged organs, service centres), not universities or hospitals
    small = np.flatnonzero(reg["institution_subkind"].isin(["机关", "其他", "团体"]).to_numpy())
    movers = small[rng.permutation(len(small))]
    joiners = movers[: round(n * JOIN_SHARE)]
    leavers = movers[round(n * JOIN_SHARE): round(n * JOIN_SHARE) + round(n * LEAVE_SHARE)]
    for i in joiners:  # joins on the first day of a month after the first one
        y, m = months[rng.integers(1, len(months))]
        reg.iat[i, reg.columns.get_loc("active_from")] = dt.date(y, m, 1).isoformat()
    for i in leavers:  # leaves on the last day of a month before the last one
        y, m = months[rng.integers(0, len(months) - 1)]
        end = (pd.Timestamp(y, m, 1) + pd.offsets.MonthEnd(0)).date()
        reg.iat[i, reg.columns.get_loc("active_to")] = end.isoformat()
    reg.insert(0, "inst", np.arange(n))
    return reg
