"""The hardware model (bnnc.backends.hardware): documented defaults, TOML overrides and their
one-line errors, the default TOML round trip, derived quantities (checked against independent
formulas) and the configuration digest."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from pathlib import Path

import pytest

from bnnc.backends.hardware import (
    AdcConfig,
    ArrayConfig,
    HardwareConfig,
    HardwareConfigError,
    adc_bits_for,
    default_hardware,
    default_hardware_toml,
    load_hardware,
    loads_hardware,
)
from bnnc.errors import BnncError

# DESIGN.md §6, plus the figures it leaves open (sources in the module).
DESIGN_DEFAULTS = {
    "array.rows": 128,
    "array.cols": 128,
    "array.cell": "1T1R binary",
    "cell.r_on_ohm": 10e3,
    "cell.r_off_ohm": 1e6,
    "cell.area_um2": 1.44,
    "read.voltage_v": 0.15,
    "read.time_ns": 10.0,
    "comparator.rate_gsps": 1.0,
    "comparator.power_uw": 1.63,
    "adc.power_6bit_mw": 1.26,
    "adc.rate_6bit_gsps": 1.0,
    "adc.area_6bit_um2": 580.0,
    "adc.power_8bit_mw": 2.0,
    "adc.rate_8bit_gsps": 1.28,
    "adc.area_8bit_um2": 1200.0,
    "adc.share": 8,
    "dac.kind": "none",
    "digital.clock_ghz": 1.0,
}


def _write(tmp_path: Path, text: str, name: str = "hw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> HardwareConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(HardwareConfigError) as info:
        load_hardware(path)
    return info.value


# ---- defaults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value", DESIGN_DEFAULTS.items())
def test_defaults_match_design(key, value):
    hw = HardwareConfig()
    assert hw.value_of(key) == value
    assert type(hw.value_of(key)) is type(value)


def test_default_group_attributes():
    hw = default_hardware()
    assert (hw.array.rows, hw.array.cols) == (128, 128)
    assert hw.cell.r_on_ohm == 10_000.0 and hw.cell.r_off_ohm == 1_000_000.0
    assert hw.adc.share == 8 and hw.adc.scaling == "geometric"
    assert hw.comparator.area_um2 > 0 and hw.buffer.area_um2_per_bit > 0
    assert hw.digital.adder_energy_pj_per_bit > 0 and hw.digital.register_area_um2_per_bit > 0
    assert hw.origins == ()


def test_every_key_has_unit_in_name_and_a_source():
    suffixes = ("_ns", "_uw", "_mw", "_um2", "_ohm", "_v", "_gsps", "_ghz", "_pj", "_pj_per_bit", "_um2_per_bit", "_lanes",
                "_nw_per_bit", "_pj_per_bit_mm", "_um", "_seconds", "_cycles", "_gbps")
    unitless = {"array.rows", "array.cols", "array.cell", "adc.scaling", "adc.share", "dac.kind", "read.port_activity",
                "buffer.bits_per_array", "buffer.access_bits", "buffer.macro_table", "interconnect.bus_bits",
                "array.arrays_per_tile"}
    # the device's relative spreads, fractions, exponents and counts have no unit; the comparator
    # offset keeps the name (its unit, A, is in its spec)
    unitless |= {f"device.{k}" for k in ("program_sigma", "read_sigma", "stuck_hrs", "stuck_lrs", "drift_nu",
                                         "drift_nu_sigma", "spare_rows", "spare_cols", "comparator_offset_sigma")}
    keys = HardwareConfig.keys()
    assert len(keys) == len(set(keys)) == 64
    for key in keys:
        assert HardwareConfig.source_of(key).strip(), key
        if key not in unitless:
            assert key.endswith(suffixes), key
            assert HardwareConfig.unit_of(key), key


def test_source_of_and_describe():
    assert HardwareConfig.source_of("adc.power_6bit_mw") == "MNSIM ADC option 4"
    assert HardwareConfig().describe("adc.power_6bit_mw") == "1.26 mW (MNSIM ADC option 4)"
    assert "MNSIM ADC option 8" in HardwareConfig.source_of("comparator.power_uw")
    assert "ISAAC" in HardwareConfig.source_of("adc.power_8bit_mw")
    assert "numColMuxed" in HardwareConfig.source_of("adc.share")
    with pytest.raises(KeyError):
        HardwareConfig.source_of("adc.power")


# ---- TOML: round trip and overrides ------------------------------------------------------------


def test_default_toml_round_trips(tmp_path):
    text = default_hardware_toml()
    loaded = load_hardware(_write(tmp_path, text))
    assert loaded == HardwareConfig()
    assert loaded.digest() == HardwareConfig().digest()
    assert loaded.origins == ()
    # every key present, each preceded by a comment giving its source
    document = tomllib.loads(text)
    lines = text.splitlines()
    for key in HardwareConfig.keys():
        table, name = key.split(".")
        assert name in document[table], key
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name} = ") and _table_at(lines, i) == table)
        comments = []
        j = index - 1
        while j >= 0 and lines[j].startswith("#"):
            comments.insert(0, lines[j])
            j -= 1
        comment = " ".join(c.lstrip("# ").strip() for c in comments)
        assert HardwareConfig.source_of(key) in comment, key
        if HardwareConfig.unit_of(key):
            assert f"[{HardwareConfig.unit_of(key)}]" in comments[0], key


def _table_at(lines: list[str], index: int) -> str:
    for line in reversed(lines[:index]):
        if line.startswith("["):
            return line.strip("[]")
    return ""


def test_overrides_apply_and_missing_keys_keep_defaults(tmp_path):
    hw = load_hardware(_write(tmp_path, "[array]\nrows = 256\n\n[adc]\npower_8bit_mw = 3\nscaling = \"pow2\"\n"))
    assert hw.array.rows == 256 and hw.array.cols == 128
    assert hw.adc.power_8bit_mw == 3.0 and isinstance(hw.adc.power_8bit_mw, float)
    assert hw.adc.scaling == "pow2"
    assert hw.cell == HardwareConfig().cell
    path = str(tmp_path / "hw.toml")
    assert hw.origin_of("array.rows") == path and hw.origin_of("array.cols") is None
    assert hw.describe("adc.power_8bit_mw").startswith(f"3 mW ({path}; default 2 mW, ISAAC")
    json_rows = hw.to_json()["parameters"]["array"]["rows"]
    assert json_rows["value"] == 256 and json_rows["source"] == path and json_rows["default"] == 128


def test_override_equal_to_default_is_not_an_override():
    hw = loads_hardware("[cell]\nr_on_ohm = 10000\n", "hw.toml")
    assert hw == HardwareConfig() and hw.origins == ()


def test_overridden_config_round_trips_through_to_toml():
    hw = loads_hardware("[array]\nrows = 64\ncols = 32\n[read]\ntime_ns = 3.16\n[digital]\nclock_ghz = 1.2\n", "a.toml")
    again = loads_hardware(hw.to_toml(), "b.toml")
    assert again == hw and again.digest() == hw.digest()
    assert "overridden by a.toml" in hw.to_toml()


def test_with_values_validates_like_a_file():
    hw = HardwareConfig().with_values({"array.rows": 64})
    assert hw.array.rows == 64 and hw.origin_of("array.rows") == "<api>"
    with pytest.raises(HardwareConfigError, match=r"^<api>: \[array\] rows: expected an integer >= 2, got 0$"):
        HardwareConfig().with_values({"array.rows": 0})


# ---- errors: one line naming file and key --------------------------------------------------------

BAD = [
    ("unknown-table", "[arrays]\nrows = 4\n", "[arrays]", "unknown table"),
    ("unknown-key", "[array]\nsize = 4\n", "[array] size", "unknown key"),
    ("top-level-key", "rows = 4\n", "rows", "[array] rows"),
    ("wrong-type-string", '[array]\nrows = "big"\n', "[array] rows", 'expected an integer >= 2, got "big"'),
    ("wrong-type-float-for-int", "[adc]\nshare = 8.0\n", "[adc] share", "expected an integer >= 1, got 8.0"),
    ("wrong-type-bool", "[cell]\nr_on_ohm = true\n", "[cell] r_on_ohm", "expected a number > 0, got true"),
    ("wrong-type-array", "[read]\nvoltage_v = [0.1]\n", "[read] voltage_v", "got [0.1]"),
    ("rows-below-2", "[array]\nrows = 1\n", "[array] rows", "expected an integer >= 2, got 1"),
    ("non-positive", "[read]\ntime_ns = 0\n", "[read] time_ns", "expected a number > 0, got 0"),
    ("negative", "[digital]\nclock_ghz = -1.0\n", "[digital] clock_ghz", "expected a number > 0, got -1.0"),
    ("negative-energy", "[buffer]\nread_energy_pj_per_bit = -0.1\n", "[buffer] read_energy_pj_per_bit", "expected a number >= 0"),
    ("not-finite", "[cell]\narea_um2 = inf\n", "[cell] area_um2", "finite"),
    ("bad-choice", '[adc]\nscaling = "linear"\n', "[adc] scaling", 'expected one of "geometric", "pow2", got "linear"'),
    ("r-off-not-above-r-on", "[cell]\nr_off_ohm = 10000\n", "[cell] r_off_ohm", "expected a value > r_on_ohm (10000 Ω), got 10000"),
    ("r-on-raised-above-r-off", "[cell]\nr_on_ohm = 2e6\n", "[cell] r_on_ohm", "expected a value < r_off_ohm (1000000 Ω)"),
    ("table-is-a-value", "array = 4\n", "array", "expected a table [array]"),
    ("time-overflows-the-schedule", "[read]\ntime_ns = 1e308\n", "[read] time_ns", "within [1e-15, 1e+15] (beyond, the schedule overflows), got 1e+308"),
    ("clock-period-overflows", "[digital]\nclock_ghz = 5e-324\n", "[digital] clock_ghz", "within [1e-15, 1e+15]"),
    ("area-overflows-the-totals", "[cell]\narea_um2 = 1e308\n", "[cell] area_um2", "expected a number >= 0, within"),
    ("currents-overflow", "[cell]\nr_on_ohm = 1e-300\nr_off_ohm = 1e-299\n", "[cell] r_on_ohm", "within"),
]


@pytest.mark.parametrize("text, where, what", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gives_one_line_naming_file_and_key(tmp_path, text, where, what):
    err = _error(tmp_path, text)
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'hw.toml'}: {where}")
    assert what in message
    assert isinstance(err, BnncError) and err.exit_code == 2
    assert err.path == str(tmp_path / "hw.toml")


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    err = _error(tmp_path, "[array]\nrows = 128\ncols = = 4\n")
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'hw.toml'}: TOML syntax error")
    assert "line 3" in message and "column" in message


def test_unreadable_file(tmp_path):
    with pytest.raises(HardwareConfigError, match="cannot read hardware file"):
        load_hardware(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(HardwareConfigError, match="not UTF-8"):
        load_hardware(tmp_path / "latin1.toml")


def test_programmatic_construction_is_validated():
    with pytest.raises(HardwareConfigError, match=r"\[array\] rows"):
        ArrayConfig(rows=1)
    with pytest.raises(HardwareConfigError, match=r"r_off_ohm"):
        HardwareConfig(cell=dataclasses.replace(HardwareConfig().cell, r_off_ohm=5_000.0))


# ---- derived quantities, checked against independent formulas -----------------------------------


def test_cell_quantities():
    hw = HardwareConfig()
    v, t = 0.15, 10e-9
    assert hw.cell.g_on_s == pytest.approx(1e-4)
    assert hw.cell.g_off_s == pytest.approx(1e-6)
    assert hw.cell.delta_g_s == pytest.approx(1e-4 - 1e-6)
    assert hw.cell.on_off_ratio == pytest.approx(100.0)
    # E = V² G t  (J → pJ)
    assert hw.cell_read_energy_on_pj == pytest.approx(v * v / 10e3 * t * 1e12)
    assert hw.cell_read_energy_off_pj == pytest.approx(v * v / 1e6 * t * 1e12)
    assert hw.cell_current_on_ua == pytest.approx(v / 10e3 * 1e6)
    assert hw.array_area_um2 == pytest.approx(128 * 128 * 1.44)
    other = loads_hardware("[cell]\nr_on_ohm = 20e3\n[read]\nvoltage_v = 0.2\ntime_ns = 5\n")
    assert other.cell_read_energy_on_pj == pytest.approx(0.2**2 / 20e3 * 5e-9 * 1e12)


def test_timing_quantities():
    hw = HardwareConfig()
    assert hw.digital.clock_period_ns == pytest.approx(1.0)
    assert hw.read_cycles == 10
    assert hw.comparator.decision_ns == pytest.approx(1.0)
    assert hw.comparator.energy_pj == pytest.approx(1.63e-6 / 1e9 * 1e12)
    fast = loads_hardware("[digital]\nclock_ghz = 1.5\n")
    assert fast.read_cycles == math.ceil(10 * 1.5)
    assert fast.cycles(2.0) == 3
    assert hw.adcs_for(128) == 16 and hw.adcs_for(127) == 16 and hw.adcs_for(9) == 2


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 8, 63, 64, 100, 127, 128, 129, 255, 256, 1000])
def test_adc_bits_for(rows):
    assert adc_bits_for(rows) == math.ceil(math.log2(rows + 1))
    assert HardwareConfig.adc_bits_for(rows) == adc_bits_for(rows)


def test_adc_bits_for_rejects_nonsense():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError):
            adc_bits_for(bad)


def test_adc_reference_points_are_exact():
    hw = HardwareConfig()
    for rule in ("geometric", "pow2"):
        adc = dataclasses.replace(hw.adc, scaling=rule)
        p6, p8 = adc(6), adc(8)
        assert (p6.power_mw, p6.rate_gsps, p6.area_um2) == pytest.approx((1.26, 1.0, 580.0))
        assert (p8.power_mw, p8.rate_gsps, p8.area_um2) == pytest.approx((2.0, 1.28, 1200.0))
        assert p8.energy_pj == pytest.approx(2e-3 / 1.28e9 * 1e12)
        assert p8.conversion_ns == pytest.approx(1 / 1.28)


@pytest.mark.parametrize("bits", range(1, 13))
def test_adc_geometric_rule(bits):
    adc = HardwareConfig().adc
    point = adc(bits)
    # log-linear through (6, x6) and (8, x8): x = x6 · (x8 / x6)^((bits − 6) / 2)
    t = (bits - 6) / 2
    assert point.power_mw == pytest.approx(math.exp(math.log(1.26) + t * (math.log(2.0) - math.log(1.26))))
    assert point.area_um2 == pytest.approx(math.exp(math.log(580) + t * (math.log(1200) - math.log(580))))
    rate = 1.0 if bits <= 6 else 1.28 if bits >= 8 else math.sqrt(1.0 * 1.28)
    assert point.rate_gsps == pytest.approx(rate)
    assert point.bits == bits and "geometric" in point.rule
    if bits > 1:
        below = adc(bits - 1)
        assert point.power_mw > below.power_mw and point.area_um2 > below.area_um2


@pytest.mark.parametrize("bits, ref", [(1, 6), (4, 6), (6, 6), (7, 8), (8, 8), (9, 8), (10, 8)])
def test_adc_pow2_rule(bits, ref):
    adc = dataclasses.replace(HardwareConfig().adc, scaling="pow2")
    point = adc(bits)
    power, rate, area = (1.26, 1.0, 580.0) if ref == 6 else (2.0, 1.28, 1200.0)
    assert point.power_mw == pytest.approx(power * 2 ** (bits - ref))
    assert point.area_um2 == pytest.approx(area * 2 ** (bits - ref))
    assert point.rate_gsps == pytest.approx(rate)
    assert f"{ref}-bit point" in point.rule


def test_adc_follows_overridden_reference_points():
    hw = loads_hardware("[adc]\npower_6bit_mw = 1.0\npower_8bit_mw = 4.0\n")
    assert hw.adc(7).power_mw == pytest.approx(2.0)
    assert hw.adc(10).power_mw == pytest.approx(16.0)


def test_adc_rejects_bad_widths():
    with pytest.raises(ValueError):
        AdcConfig().point(0)


# ---- digest and JSON ------------------------------------------------------------------------------

_CHANGED = {"geometric": "pow2", "1T1R binary": "1T1R binary (HfOx)", "none": "mnsim-90nm"}


def _changed(value):
    if isinstance(value, str):
        return _CHANGED[value]
    if isinstance(value, int):
        return value + 1
    return value * 1.5 or 0.25  # the device's defaults are 0


@pytest.mark.parametrize("key", [k for k in HardwareConfig.keys() if k != "dac.kind"])  # dac.kind: one legal value
def test_digest_changes_when_any_value_changes(key):
    base = HardwareConfig()
    new = _changed(base.value_of(key))
    if key == "cell.r_on_ohm":
        new = base.value_of(key) * 0.5  # keep r_on < r_off
    changed = base.with_values({key: new})
    assert changed != base
    assert changed.digest() != base.digest()


def test_digest_stable_otherwise(tmp_path):
    base = HardwareConfig()
    assert base.digest() == HardwareConfig().digest()
    assert len(base.digest()) == 16 and int(base.digest(), 16) >= 0
    # same values, different provenance or spelling: same digest
    spelled = loads_hardware("[cell]\nr_on_ohm = 10_000\n[array]\nrows = 128\n", "x.toml")
    assert spelled.digest() == base.digest()
    assert load_hardware(_write(tmp_path, default_hardware_toml())).digest() == base.digest()
    # a change and its undo: back to the same digest
    assert base.with_values({"array.rows": 64}).with_values({"array.rows": 128}).digest() == base.digest()
    # changes only when a default (or the schema) changes; the periphery, interconnect, buffer
    # leakage, access time and per-array registers and the port activity joined the defaults in issue 14,
    # the register transfers and the output transfer on a window's path (digital.register_cycles,
    # interconnect.bandwidth_gbps) in its latency follow-up, the tile level and the SRAM macro table
    # (array.arrays_per_tile, buffer.macro_table, both off by default) in its MNSIM 2.0 run
    assert base.digest() == "5962f56bb06e0b15"


def test_to_json_has_values_units_sources_and_derived():
    data = HardwareConfig().to_json()
    assert data["digest"] == HardwareConfig().digest()
    entry = data["parameters"]["adc"]["power_6bit_mw"]
    assert entry == {"value": 1.26, "unit": "mW", "source": "MNSIM ADC option 4", "note": entry["note"]}
    assert set(data["parameters"]) == {"array", "cell", "read", "comparator", "adc", "dac", "digital", "buffer",
                                       "periphery", "interconnect", "device"}
    assert sum(len(v) for v in data["parameters"].values()) == len(HardwareConfig.keys())
    assert data["parameters"]["array"]["rows"] == {
        "value": 128, "unit": "rows", "source": HardwareConfig.source_of("array.rows")
    }
    derived = data["derived"]
    assert derived["cell_read_energy_on_pj"]["value"] == pytest.approx(0.0225)
    assert derived["adc_bits_full_array"]["value"] == 8
    assert all({"value", "unit", "formula"} <= set(d) for d in derived.values())
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize("key, value", [("read.time_ns", 1e15), ("digital.clock_ghz", 1e-15), ("cell.area_um2", 1e15),
                                        ("digital.fp_add_energy_pj", 1e15), ("comparator.rate_gsps", 1e-15)])
def test_extreme_accepted_figures_keep_every_report_figure_finite(tmp_path, key, value):
    """At the edges of the accepted range the report is still strict JSON: the bounds are what
    keeps the schedule finite."""
    from bnnc.cli import main

    table, name = key.split(".")
    hw = _write(tmp_path, f"[{table}]\n{name} = {value!r}\n")
    example = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
    assert main([str(example), "--hw", str(hw), "--golden-inputs", "1", "-o", str(tmp_path / "out")]) == 0
    json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in report.json"))


def test_a_non_finite_report_figure_fails_loudly_instead_of_writing_infinity():
    from bnnc.api import _json_bytes

    with pytest.raises(ValueError, match="not JSON compliant"):
        _json_bytes({"totals": {"area_mm2": math.inf}})


def test_a_fraction_above_one_is_refused(tmp_path):
    with pytest.raises(HardwareConfigError, match=r"\[read\] port_activity: expected a number in \[0, 1\], got 1.5"):
        load_hardware(_write(tmp_path, "[read]\nport_activity = 1.5\n"))
