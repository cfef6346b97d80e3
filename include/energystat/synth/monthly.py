"""Monthly rows of the synthetic province, calibrated so that each reporter's indicators move as intended.

Rows are drawn per institution and month (size × persistent factor × season × noise); then, per reporter and year
after the first, electricity, fuels, water and floor area are scaled by one factor each so the reporter's four
intensity indicators change by exactly the intended year-on-year amounts (chosen on either side of the target by
a visible margin). Indicators follow DOMAIN.md: numerator = sum over the reporter's institution-month rows of the
year; denominator = sum over its institutions reporting that year of their mean monthly headcount (area).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energystat import reference
from energystat.contract.forms import MONTHLY_NUMERIC_COLUMNS, SIZE_COLUMNS

FUEL_COLUMNS = ["natural_gas_m3", "lpg_kg", "coal_kg", "gasoline_l", "diesel_l", "heat_gj"]
INDICATORS = ["energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"]

#: Guangxi's seasonal shape: cooling peak Jun–Sep, Spring Festival dip in Feb (mean 1).
ELECTRICITY_SEASON = np.array([0.85, 0.72, 0.82, 0.92, 1.05, 1.22, 1.32, 1.30, 1.20, 1.00, 0.86, 0.84])
WATER_SEASON = np.array([0.88, 0.80, 0.92, 0.98, 1.05, 1.12, 1.15, 1.14, 1.08, 1.00, 0.94, 0.94])
#: Schools are on holiday in February and July–August.
SCHOOL_HOLIDAY = np.array([0.95, 0.55, 1.05, 1.05, 1.05, 1.05, 0.60, 0.55, 1.10, 1.05, 1.05, 1.0])
PV_SEASON = np.array([0.65, 0.6, 0.75, 0.9, 1.1, 1.2, 1.35, 1.35, 1.25, 1.1, 0.9, 0.75])
#: Share of an institution's energy (kgce) by carrier before normalising (a generator choice).
CARRIER_SHARE = {"electricity_kwh": 0.76, "natural_gas_m3": 0.08, "lpg_kg": 0.03, "coal_kg": 0.04,
                 "gasoline_l": 0.06, "diesel_l": 0.02, "heat_gj": 0.03}
#: Probability that an institution uses a carrier at all (electricity and gasoline: always).
CARRIER_USE = {"natural_gas_m3": 0.6, "lpg_kg": 0.35, "coal_kg": 0.05, "diesel_l": 0.4, "heat_gj": 0.08}
HEADCOUNT_NOISE = 0.008
MARGIN_RANGE = (0.008, 0.025)  # intended distance from the target, as a fraction
VISIBLE_MARGIN = 0.006  # the whole region must also clear its target by this much either way


def active_months(registry: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """(inst, year, month) for every institution and month it is active in."""
    periods = pd.period_range(f"{min(years)}-01", f"{max(years)}-12", freq="M")
    periods = periods[periods.year.isin(years)]
    start = pd.PeriodIndex(pd.to_datetime(registry["active_from"]), freq="M")
    end_dates = pd.to_datetime(registry["active_to"].replace("", None))
    end = pd.PeriodIndex(end_dates.fillna(pd.Timestamp("2999-12-31")), freq="M")
    pi = np.repeat(registry["inst"].to_numpy(), len(periods))
    pp = np.tile(np.arange(len(periods)), len(registry))
    p_ord = periods.asi8[pp]
    keep = (p_ord >= start.asi8[pi]) & (p_ord <= end.asi8[pi])
    chosen = periods[pp[keep]]
    return pd.DataFrame({"inst": pi[keep], "year": chosen.year.to_numpy(), "month": chosen.month.to_numpy()})


def draw_rows(registry: pd.DataFrame, years: list[int], rng: np.random.Generator) -> pd.DataFrame:
    """Uncalibrated rows: one per active institution-month, raw columns in the form's units."""
    rows = active_months(registry, years)
    reg = registry.set_index("inst").loc[rows["inst"]]
    n, first = len(rows), min(years)
    month_index = rows["month"].to_numpy() - 1
    year_offset = rows["year"].to_numpy() - first
    reporter = reg["reporter_code"].to_numpy()
    # a gentle reporter-level trend in headcount and area (−1 %…+2 % a year)
    trend_by_reporter = {code: g for code, g in zip(
        reference.reporter_codes(), rng.uniform(-0.01, 0.02, len(reference.reporter_codes())), strict=True)}
    trend = (1 + pd.Series(reporter).map(trend_by_reporter).to_numpy()) ** year_offset
    headcount = reg["headcount"].to_numpy() * trend * np.exp(rng.normal(0, HEADCOUNT_NOISE, n))
    rows["reporter_code"] = reporter
    rows["headcount"] = np.maximum(np.rint(headcount), 1)
    rows["floor_area_m2"] = reg["floor_area_m2"].to_numpy() * trend

    school = (reg["institution_subkind"].to_numpy() == "中小学校") | (reg["institution_subkind"].to_numpy() == "高等学校")
    season = ELECTRICITY_SEASON[month_index] * np.where(school, SCHOOL_HOLIDAY[month_index], 1.0)
    monthly_kgce = headcount * reg["kgce_per_person"].to_numpy() / 12 * reg["energy_factor"].to_numpy()
    kgce_per_unit = reference.kgce_per_raw_unit()
    # which carriers each institution uses (persistent), then its shares
    inst_count = len(registry)
    uses = {col: np.ones(inst_count, bool) for col in CARRIER_SHARE}
    for col, p in CARRIER_USE.items():
        uses[col] = rng.random(inst_count) < p
    shares = np.column_stack([uses[c] * CARRIER_SHARE[c] for c in CARRIER_SHARE])
    shares = shares / shares.sum(axis=1, keepdims=True)
    inst = rows["inst"].to_numpy()
    for j, col in enumerate(CARRIER_SHARE):
        shape = season if col == "electricity_kwh" else 1.0
        value = monthly_kgce * shares[inst, j] * shape * np.exp(rng.normal(0, 0.06, n)) / kgce_per_unit[col]
        rows[col] = value
    water_shape = WATER_SEASON[month_index] * np.where(school, SCHOOL_HOLIDAY[month_index], 1.0)
    rows["water_t"] = (headcount * reg["water_per_person"].to_numpy() / 12 * reg["water_factor"].to_numpy()
                       * water_shape * np.exp(rng.normal(0, 0.05, n)))
    has_pv = rng.random(inst_count) < 0.15
    roof_kwp = np.minimum(reg["floor_area_m2"].to_numpy() * 0.03, 500)
    rows["pv_kwh"] = np.where(has_pv[inst], roof_kwp * 1000 / 12 * PV_SEASON[month_index], 0.0)
    return rows


def reporter_year_sums(rows: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Numerators (kgce split electricity/fuels, CO₂ split, water) and denominators per group and year."""
    kgce = reference.kgce_per_raw_unit()
    frame = pd.DataFrame({k: rows[k] for k in [*group, "year", "inst"]})
    frame["kgce_e"] = rows["electricity_kwh"] * kgce["electricity_kwh"]
    frame["kgce_f"] = sum(rows[c] * kgce[c] for c in FUEL_COLUMNS)
    co2_e = np.zeros(len(rows))
    co2_f = np.zeros(len(rows))
    for year in rows["year"].unique():
        co2 = reference.kgco2_per_raw_unit(int(year))
        mask = (rows["year"] == year).to_numpy()
        co2_e[mask] = rows.loc[mask, "electricity_kwh"] * co2["electricity_kwh"]
        co2_f[mask] = sum(rows.loc[mask, c] * co2[c] for c in FUEL_COLUMNS)
    frame["co2_e"], frame["co2_f"], frame["water"] = co2_e, co2_f, rows["water_t"]
    frame["headcount"], frame["area"] = rows["headcount"], rows["floor_area_m2"]
    per_inst = frame.groupby([*group, "year", "inst"]).agg(
        kgce_e=("kgce_e", "sum"), kgce_f=("kgce_f", "sum"), co2_e=("co2_e", "sum"), co2_f=("co2_f", "sum"),
        water=("water", "sum"), persons=("headcount", "mean"), area=("area", "mean"))
    return per_inst.groupby([*group, "year"]).sum()


def indicators(sums: pd.DataFrame) -> pd.DataFrame:
    energy = sums["kgce_e"] + sums["kgce_f"]
    carbon = sums["co2_e"] + sums["co2_f"]
    return pd.DataFrame({
        "energy_per_capita": energy / sums["persons"], "energy_per_m2": energy / sums["area"],
        "water_per_capita": sums["water"] / sums["persons"], "carbon_per_m2": carbon / sums["area"],
    })


def _scale_factors(prev: pd.Series, cur: pd.Series, change: dict[str, float],
                   slack: float = 1.0) -> dict[str, float] | None:
    """Factors on electricity, fuels, water and area giving exactly `change` against `prev`; None if implausible."""
    energy = prev["energy_per_capita"] * (1 + change["energy_per_capita"]) * cur["persons"]
    area = energy / (prev["energy_per_m2"] * (1 + change["energy_per_m2"]))
    water = prev["water_per_capita"] * (1 + change["water_per_capita"]) * cur["persons"]
    carbon = prev["carbon_per_m2"] * (1 + change["carbon_per_m2"]) * area
    det = cur["kgce_e"] * cur["co2_f"] - cur["kgce_f"] * cur["co2_e"]
    electricity = (energy * cur["co2_f"] - cur["kgce_f"] * carbon) / det
    fuels = (cur["kgce_e"] * carbon - energy * cur["co2_e"]) / det
    factors = {"electricity": electricity, "fuels": fuels, "water": water / cur["water"], "area": area / cur["area"]}
    # per-institution changes must stay below the M011/M012 thresholds; `slack` widens the bounds for reporters
    # whose few institutions move a lot on their own
    plausible = (abs(electricity - 1) < 0.22 * slack and 0.4 < fuels < 1 + 0.9 * slack
                 and abs(factors["water"] - 1) < 0.15 * slack and abs(factors["area"] - 1) < 0.06 * slack)
    return factors if plausible else None


def calibrate(rows: pd.DataFrame, years: list[int], rng: np.random.Generator) -> dict[tuple[str, int], dict]:
    """Scale rows in place, year by year; returns the intended change and attainment per (reporter, year)."""
    intended: dict[tuple[str, int], dict] = {}
    reporters = reference.reporter_codes()
    for year in sorted(years)[1:]:
        targets = reference.intensity_targets(year, fallback_to_latest=True)
        sums = reporter_year_sums(rows[rows["year"].isin([year - 1, year])], ["reporter_code"])
        prev = indicators(sums).xs(year - 1, level="year")
        cur = sums.xs(year, level="year")
        whole_prev = indicators(sums.groupby(level="year").sum()).loc[year - 1]
        for attempt in range(600):
            plan = _draw_plan(reporters, targets, prev, cur, rng)
            if plan is None:
                continue
            scaled = _apply_to_sums(cur, plan)
            whole = indicators(scaled.sum().to_frame().T).iloc[0] / whole_prev - 1
            gaps = [abs(whole[i] - (targets[i].target_change if i in targets else 0.0)) for i in INDICATORS]
            # The whole region should clear or miss every target visibly too; some seeds' mixes of reporters
            # make that rare, so the required margin halves every 150 attempts rather than failing.
            if min(gaps) >= VISIBLE_MARGIN / 2 ** (attempt // 150):
                break
        else:
            raise RuntimeError(f"could not find year-on-year trends for {year} (too few institutions?)")
        year_mask = (rows["year"] == year).to_numpy()
        by_reporter = rows.loc[year_mask, "reporter_code"]
        for name, columns in (("electricity", ["electricity_kwh"]), ("fuels", FUEL_COLUMNS),
                              ("water", ["water_t"]), ("area", ["floor_area_m2"])):
            factor = by_reporter.map({code: plan[code][2][name] for code in reporters}).to_numpy()
            for col in columns:
                rows.loc[year_mask, col] = rows.loc[year_mask, col].to_numpy() * factor
        for code in reporters:
            intended[(code, year)] = {"change": plan[code][0], "attained": plan[code][1]}
    return intended


def _draw_plan(reporters: list[str], targets: dict, prev: pd.DataFrame, cur: pd.DataFrame,
               rng: np.random.Generator) -> dict[str, tuple[dict, dict, dict]] | None:
    """Attain/miss flags per indicator (5–10 of 15 reporters attain), then margins per reporter until plausible."""
    flags = {}
    for indicator in INDICATORS:
        attain = np.zeros(len(reporters), bool)
        attain[rng.permutation(len(reporters))[: rng.integers(5, 11)]] = True
        flags[indicator] = attain
    plan: dict[str, tuple[dict, dict, dict]] = {}
    for r, code in enumerate(reporters):
        for _try in range(150):
            slack = 1.0 + _try // 50 * 0.4
            change = {}
            for indicator in INDICATORS:
                target = targets[indicator].target_change if indicator in targets else 0.0
                margin = rng.uniform(*MARGIN_RANGE)
                change[indicator] = target - margin if flags[indicator][r] else target + margin
            factors = _scale_factors(prev.loc[code], cur.loc[code], change, slack)
            if factors is not None:
                plan[code] = (change, {i: bool(flags[i][r]) for i in INDICATORS}, factors)
                break
        else:
            return None
    return plan


#: Which factor of a plan scales which sum column.
_SUM_FACTOR = {"kgce_e": "electricity", "co2_e": "electricity", "kgce_f": "fuels", "co2_f": "fuels",
               "water": "water", "area": "area"}


def _apply_to_sums(cur: pd.DataFrame, plan: dict[str, tuple[dict, dict, dict]]) -> pd.DataFrame:
    # one multiplication per column (calibrate calls this up to 600 times: per-cell .loc took most of its time)
    scaled = cur.copy()
    for column, name in _SUM_FACTOR.items():
        factor = np.array([plan[code][2][name] if code in plan else 1.0 for code in scaled.index])
        scaled[column] = scaled[column].to_numpy() * factor
    return scaled


def round_rows(rows: pd.DataFrame) -> None:
    """Round in place to what the files hold: persons whole, area 0.1 m², consumption 0.01."""
    rows["headcount"] = rows["headcount"].round().astype("int64")
    rows["floor_area_m2"] = rows["floor_area_m2"].round(1)
    for col in MONTHLY_NUMERIC_COLUMNS:
        if col not in SIZE_COLUMNS:
            rows[col] = rows[col].round(2)
