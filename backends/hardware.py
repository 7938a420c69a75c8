"""The hardware model: every resource, energy, area and timing figure bnnc reports is computed
from one :class:`HardwareConfig`.

The configuration is grouped by component (``array``, ``cell``, ``read``, ``comparator``,
``adc``, ``dac``, ``digital``, ``buffer``). Every field carries its unit in its name
(``_ns``, ``_uw``, ``_mw``, ``_um2``, ``_ohm``, ``_v``, ``_gsps``, ``_ghz``, ``_pj_per_bit``,
...; counts such as ``rows`` have none) and a citation saying where the default comes from
(DESIGN.md §6), so a report can print ``1.26 mW (MNSIM ADC option 4)`` and a hardware
researcher can trace any number back to a parameter and its source.

A user overrides any value with a TOML file whose tables match the groups::

    [array]
    rows = 256

    [adc]
    power_8bit_mw = 3.1

Missing keys keep their defaults. Unknown tables or keys and bad values raise
:class:`HardwareConfigError` (a :class:`~bnnc.ir.BnncError`, exit code 2) with one line
naming the file and the key. :func:`default_hardware_toml` prints the complete default
configuration, every key with a comment giving its unit and source; loading that text gives
exactly the defaults.

Units used throughout: ns (time), GHz (clock), GS/s (giga-samples per second), V, Ω, S
(siemens), µW/mW (power), pJ (energy), µm² (area).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import textwrap
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bnnc.ir import BnncError

__all__ = [
    "AdcConfig",
    "AdcPoint",
    "ArrayConfig",
    "BufferConfig",
    "CellConfig",
    "ComparatorConfig",
    "DacConfig",
    "DeviceConfig",
    "DigitalConfig",
    "HardwareConfig",
    "HardwareConfigError",
    "InterconnectConfig",
    "PeripheryConfig",
    "ReadConfig",
    "adc_bits_for",
    "default_hardware",
    "default_hardware_toml",
    "load_hardware",
    "loads_hardware",
]


class HardwareConfigError(BnncError):
    """A hardware configuration (TOML file or programmatic override) that bnnc cannot use.

    The message is one line naming the file and the key, e.g.
    ``hw.toml: [array] rows: expected an integer >= 2, got "big"``."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        super().__init__(message)
        self.path = path
        self.key = key
        """Dotted key (``"array.rows"``) or table name the error is about, where there is one."""


# --------------------------------------------------------------------------------------------
# Field specifications


# Every number is a physical figure in its key's unit (ns, GHz, mW, µm², Ω, pJ). A nonzero one
# lies within 30 decades, far beyond any real device in either direction, so that the
# schedule's and the report's products with counts (cycles × arrays stay below 1e18) and
# reciprocals (a period from a rate or a clock) stay finite in float64: 1e308 ns or a
# 5e-324 GHz clock would make latencies infinite and the schedule NaN.
_MAGNITUDE = (1e-15, 1e15)


@dataclass(frozen=True)
class _Spec:
    """What a configuration field holds: its type, bounds, unit and source."""

    kind: type  # int, float or str
    unit: str
    source: str
    minimum: float | None = None
    exclusive: bool = True  # minimum is exclusive (> minimum) rather than inclusive (>=)
    maximum: float | None = None  # inclusive
    choices: tuple[str, ...] | None = None
    note: str | None = None

    def expected(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind is str:
            return "a non-empty string"
        noun = "an integer" if self.kind is int else "a number"
        if self.minimum is None:
            return noun
        op = ">" if self.exclusive else ">="
        if self.maximum is not None:
            return f"{noun} in {'(' if self.exclusive else '['}{_fmt(self.minimum)}, {_fmt(self.maximum)}]"
        return f"{noun} {op} {_fmt(self.minimum)}"

    def check(self, value: Any) -> Any:
        """The value, coerced (an integer where a number is expected becomes a float), or
        :class:`_Invalid` if it does not fit."""
        if self.kind is str:
            if not isinstance(value, str) or not value.strip():
                raise _Invalid(self.expected(), value)
            if self.choices is not None and value not in self.choices:
                raise _Invalid(self.expected(), value)
            return value
        raw = value
        if isinstance(value, bool):
            raise _Invalid(self.expected(), value)
        if self.kind is int:
            if not isinstance(value, int):
                raise _Invalid(self.expected(), value)
        else:
            if not isinstance(value, (int, float)):
                raise _Invalid(self.expected(), value)
            value = float(value)
            if not math.isfinite(value):
                raise _Invalid("a finite " + self.expected().removeprefix("a "), value)
            if value and not _MAGNITUDE[0] <= abs(value) <= _MAGNITUDE[1]:
                low, high = _MAGNITUDE
                raise _Invalid(f"{self.expected()}, within [{low:g}, {high:g}] (beyond, the schedule overflows)", raw)
        if self.minimum is not None:
            bad = value <= self.minimum if self.exclusive else value < self.minimum
            if bad or (self.maximum is not None and value > self.maximum):
                raise _Invalid(self.expected(), raw)
        return value


class _Invalid(Exception):
    def __init__(self, expected: str, value: Any):
        super().__init__(expected)
        self.expected = expected
        self.value = value


def _param(default: Any, unit: str, source: str, **spec: Any) -> Any:
    """A dataclass field with its :class:`_Spec` in the metadata."""
    return field(default=default, metadata={"spec": _Spec(type(default), unit, source, **spec)})


def _specs(group: type) -> Iterator[tuple[str, _Spec, Any]]:
    for f in dataclasses.fields(group):
        yield f.name, f.metadata["spec"], f.default


class _Group:
    """Base of the component groups: validates and coerces every field on construction."""

    TABLE: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    def __post_init__(self) -> None:
        for name, spec, _ in _specs(type(self)):
            try:
                value = spec.check(getattr(self, name))
            except _Invalid as bad:
                raise HardwareConfigError(
                    f"{type(self).__name__}: [{self.TABLE}] {name}: expected {bad.expected}, "
                    f"got {_show(bad.value)}",
                    key=f"{self.TABLE}.{name}",
                ) from None
            object.__setattr__(self, name, value)


# --------------------------------------------------------------------------------------------
# The component groups


@dataclass(frozen=True)
class ArrayConfig(_Group):
    """One crossbar array: ``rows`` word lines (input ports) × ``cols`` bit lines."""

    TABLE: ClassVar[str] = "array"
    DESCRIPTION: ClassVar[str] = "crossbar array geometry"

    rows: int = _param(
        128, "rows", "NeuroSim numRowSubArray, PUMA xbar_size, PIMCOMP default; MNSIM-2.0 uses 256",
        minimum=2, exclusive=False,
    )
    cols: int = _param(
        128, "columns", "NeuroSim numColSubArray, PUMA xbar_size, PIMCOMP default; MNSIM-2.0 uses 256",
        minimum=2, exclusive=False,
    )
    cell: str = _param(
        "1T1R binary", "", "1T1R as in MNSIM-2.0 Cell_Type and NeuroSim; binary weights (Chen et al. 2021)",
        note="descriptive only: the model assumes one binary (R_on/R_off) cell per weight bit",
    )
    arrays_per_tile: int = _param(
        1, "", "bnnc default: no tile level, every array is placed on its own", minimum=1, exclusive=False,
        note="arrays are placed in tiles of this many slots, each layer in whole tiles of its own; the area counts "
        "every slot (an empty one as much as an average array of the layer, with its periphery and buffer)",
    )

    @property
    def cells(self) -> int:
        """Cells per array."""
        return self.rows * self.cols


@dataclass(frozen=True)
class CellConfig(_Group):
    """The binary memristor cell: low (on) and high (off) resistance, and its area."""

    TABLE: ClassVar[str] = "cell"
    DESCRIPTION: ClassVar[str] = "memristor cell (binary: R_on or R_off)"

    r_on_ohm: float = _param(10_000.0, "Ω", "MNSIM-2.0 SimConfig.ini Device_Resistance (LRS)", minimum=0)
    r_off_ohm: float = _param(
        1_000_000.0, "Ω", "MNSIM-2.0 SimConfig.ini Device_Resistance (HRS)", minimum=0,
        note="must be greater than r_on_ohm",
    )
    area_um2: float = _param(
        1.44, "µm²", "MNSIM-2.0 SimConfig.ini Device_Area (RRAM)", minimum=0, exclusive=False,
        note="MNSIM cites 'Suppress variations of analog resistive memory for neuromorphic "
        "computing by localizing Vo formation'",
    )

    @property
    def g_on_s(self) -> float:
        """On conductance 1/R_on (siemens)."""
        return 1.0 / self.r_on_ohm

    @property
    def g_off_s(self) -> float:
        """Off conductance 1/R_off (siemens)."""
        return 1.0 / self.r_off_ohm

    @property
    def delta_g_s(self) -> float:
        """ΔG = G_on − G_off (siemens): the current step of one weight bit per volt."""
        return self.g_on_s - self.g_off_s

    @property
    def on_off_ratio(self) -> float:
        """R_off / R_on."""
        return self.r_off_ohm / self.r_on_ohm


@dataclass(frozen=True)
class ReadConfig(_Group):
    """One array read: inputs at 0 or ``voltage_v`` on the word lines for ``time_ns``."""

    TABLE: ClassVar[str] = "read"
    DESCRIPTION: ClassVar[str] = "array read (inputs are 0 V or V_read)"

    voltage_v: float = _param(0.15, "V", "MNSIM-2.0 SimConfig.ini Read_Voltage = 0,0.15", minimum=0)
    time_ns: float = _param(
        10.0, "ns", "NeuroSim readPulseWidth = 10e-9 s", minimum=0,
        note="per array read; MNSIM-2.0's Read_Latency is 3.16 ns",
    )
    port_activity: float = _param(
        0.5, "fraction", "bnnc assumption: a binary input bit is 1 half the time", minimum=0, exclusive=False,
        maximum=1, note="the fraction of array reads in which a port carries V_read (and its row driver switches); "
        "MNSIM-2.0 Device.py assumes 0.1 (V² = 0.9·0² + 0.1·V_read²)",
    )


@dataclass(frozen=True)
class ComparatorConfig(_Group):
    """The 1-bit sense amplifier that replaces the ADC when a column's whole fan-in fits one
    array (DESIGN.md §3 item 5)."""

    TABLE: ClassVar[str] = "comparator"
    DESCRIPTION: ClassVar[str] = "1-bit comparator (sense amplifier) per column"

    rate_gsps: float = _param(1.0, "GS/s", "MNSIM ADC option 8 (sense amplifier)", minimum=0)
    power_uw: float = _param(
        1.63, "µW", "MNSIM ADC option 8 (sense amplifier)", minimum=0, exclusive=False,
        note="MNSIM: 0.1086 × 15 µW from 'Comparative Study of Sense Amplifiers for SRAM', "
        "scaled from 65 nm 1.2 V to 28 nm 0.8 V",
    )
    area_um2: float = _param(
        1.0, "µm²", "MNSIM ADC option 8 ('SA @ 28nm')", minimum=0, exclusive=False,
        note="MNSIM_Python Hardware_Model/ADC.py ADC_area_dict[8]",
    )

    @property
    def decision_ns(self) -> float:
        """Time of one comparison, 1 / rate (ns)."""
        return 1.0 / self.rate_gsps

    @property
    def energy_pj(self) -> float:
        """Energy of one comparison, power / rate (pJ)."""
        return self.power_uw * 1e-3 / self.rate_gsps


_ADC_RULES = ("geometric", "pow2")


@dataclass(frozen=True)
class AdcConfig(_Group):
    """Partial-sum SAR ADCs, as many bits as needed, shared by ``share`` columns.

    Two reference designs anchor the cost of other widths (see :meth:`point`)."""

    TABLE: ClassVar[str] = "adc"
    DESCRIPTION: ClassVar[str] = "partial-sum SAR ADC (bits as needed), shared by several columns"

    power_6bit_mw: float = _param(
        1.26, "mW", "MNSIM ADC option 4", minimum=0,
        note="MNSIM cites 'Area-Efficient 1GS/s 6b SAR ADC with Charge-Injection-Cell-Based DAC'",
    )
    rate_6bit_gsps: float = _param(1.0, "GS/s", "MNSIM ADC option 4", minimum=0)
    area_6bit_um2: float = _param(580.0, "µm²", "MNSIM ADC option 4", minimum=0)
    power_8bit_mw: float = _param(
        2.0, "mW", "ISAAC, as used by MNSIM (ADC option 2) and PUMA", minimum=0,
        note="ISAAC (Shafiee et al., ISCA 2016): 8 ADCs per IMA, 16 mW, 0.0096 mm²",
    )
    rate_8bit_gsps: float = _param(1.28, "GS/s", "ISAAC, as used by MNSIM (ADC option 2) and PUMA", minimum=0)
    area_8bit_um2: float = _param(1200.0, "µm²", "ISAAC, as used by MNSIM (ADC option 2) and PUMA", minimum=0)
    scaling: str = _param(
        "geometric", "", "bnnc rule: log-linear in bits through the 6- and 8-bit points",
        choices=_ADC_RULES,
        note="geometric: power and area interpolated log-linearly in bits between the 6- and "
        "8-bit points and extrapolated with the same factor per bit, sample rate interpolated "
        "likewise and held at the nearer point outside 6..8 bits (relative to the 8-bit point "
        "this is within 15% of Accelergy's ISAAC SAR table, after Saberi et al. 2011, for "
        "5..9 bits); pow2: power and area proportional to 2^bits from the nearest point (7 "
        "bits: the 8-bit point, so a 7-bit ADC costs less than the 6-bit one), sample rate of "
        "that point",
    )
    share: int = _param(8, "columns per ADC", "NeuroSim numColMuxed = 8", minimum=1, exclusive=False)

    def point(self, bits: int) -> AdcPoint:
        """The cost of one ``bits``-bit ADC under :attr:`scaling`."""
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"ADC bits must be an integer >= 1, got {bits!r}")
        p6, r6, a6 = self.power_6bit_mw, self.rate_6bit_gsps, self.area_6bit_um2
        p8, r8, a8 = self.power_8bit_mw, self.rate_8bit_gsps, self.area_8bit_um2
        if self.scaling == "geometric":
            t = (bits - 6) / 2.0
            power = p6 * (p8 / p6) ** t
            area = a6 * (a8 / a6) ** t
            rate = r6 * (r8 / r6) ** min(max(t, 0.0), 1.0)
            rule = "geometric between the 6-bit (MNSIM ADC option 4) and 8-bit (ISAAC) points"
        else:
            ref_bits, power, rate, area = (6, p6, r6, a6) if bits < 7 else (8, p8, r8, a8)
            power *= 2.0 ** (bits - ref_bits)
            area *= 2.0 ** (bits - ref_bits)
            rule = f"2^bits from the {ref_bits}-bit point ({'MNSIM ADC option 4' if ref_bits == 6 else 'ISAAC'})"
        return AdcPoint(bits=bits, power_mw=power, rate_gsps=rate, area_um2=area, rule=rule)

    def __call__(self, bits: int) -> AdcPoint:
        """``hw.adc(bits)``: same as :meth:`point`."""
        return self.point(bits)


@dataclass(frozen=True)
class AdcPoint:
    """One ADC of a given width, as computed by :meth:`AdcConfig.point`."""

    bits: int
    power_mw: float
    rate_gsps: float
    area_um2: float
    rule: str
    """How the figures were obtained (the scaling rule and reference point)."""

    @property
    def conversion_ns(self) -> float:
        """Time of one conversion, 1 / rate (ns)."""
        return 1.0 / self.rate_gsps

    @property
    def energy_pj(self) -> float:
        """Energy of one conversion, power / rate (pJ; mW / (GS/s) = pJ)."""
        return self.power_mw / self.rate_gsps


@dataclass(frozen=True)
class DacConfig(_Group):
    """Input drivers. bnnc applies inputs as 0 or V_read (bit-serial for multi-bit inputs),
    so there is no DAC."""

    TABLE: ClassVar[str] = "dac"
    DESCRIPTION: ClassVar[str] = "input drivers"

    kind: str = _param(
        "none", "", "NeuroSim, MNSIM, PUMA (1-bit inputs)", choices=("none",),
        note="inputs are 0 or V_read; multi-bit inputs are applied bit-serially",
    )


_ALADDIN = "Aladdin (Shao et al., ISCA 2014) 40 nm 1 GHz table, via Accelergy hwcomponents-library"
_ALADDIN_FP = "Aladdin (Shao et al., ISCA 2014) 40 nm 1 GHz table, single-precision float units"


@dataclass(frozen=True)
class DigitalConfig(_Group):
    """Digital periphery after the arrays: adders accumulating partial sums and bit-planes,
    registers, threshold comparators, and the float32 units of the digital blocks between
    arrays (BatchNorm, residual adds, scalings, real-valued binarizers)."""

    TABLE: ClassVar[str] = "digital"
    DESCRIPTION: ClassVar[str] = "digital accumulate / compare logic"

    clock_ghz: float = _param(1.0, "GHz", "NeuroSim, PUMA", minimum=0)
    adder_energy_pj_per_bit: float = _param(
        0.0065625, "pJ/bit", _ALADDIN, minimum=0, exclusive=False,
        note="32-bit adder: 0.21 pJ per add / 32",
    )
    adder_area_um2_per_bit: float = _param(
        8.6875, "µm²/bit", _ALADDIN, minimum=0, exclusive=False, note="32-bit adder: 278 µm² / 32",
    )
    register_energy_pj_per_bit: float = _param(
        0.009, "pJ/bit", _ALADDIN, minimum=0, exclusive=False, note="register: 0.009 pJ per bit access",
    )
    register_area_um2_per_bit: float = _param(
        5.98, "µm²/bit", _ALADDIN, minimum=0, exclusive=False, note="register: 5.98 µm² per bit",
    )
    comparator_energy_pj_per_bit: float = _param(
        0.0009209375, "pJ/bit", _ALADDIN, minimum=0, exclusive=False,
        note="32-bit comparator: 0.02947 pJ per compare / 32",
    )
    comparator_area_um2_per_bit: float = _param(
        2.21875, "µm²/bit", _ALADDIN, minimum=0, exclusive=False, note="32-bit comparator: 71 µm² / 32",
    )
    fp_add_energy_pj: float = _param(
        16.7, "pJ", _ALADDIN_FP, minimum=0, exclusive=False,
        note="float32 adder (fpsp_add): 16.7 pJ per add; the digital periphery computes float ops in float32, "
        "as onnxruntime does, which the exactness contract requires",
    )
    fp_add_area_um2: float = _param(4360.0, "µm²", _ALADDIN_FP, minimum=0, exclusive=False, note="float32 adder (fpsp_add)")
    fp_mul_energy_pj: float = _param(
        35.3, "pJ", _ALADDIN_FP, minimum=0, exclusive=False,
        note="float32 multiplier (fpsp_mul): 35.3 pJ per multiply; a division is costed as one",
    )
    fp_mul_area_um2: float = _param(8970.0, "µm²", _ALADDIN_FP, minimum=0, exclusive=False, note="float32 multiplier (fpsp_mul)")
    register_cycles: int = _param(
        0, "clock cycles", "bnnc assumption: register transfers are pipelined with the array reads (as buffer.access_ns = 0)",
        minimum=0, exclusive=False,
        note="clock cycles of one register transfer on a window's critical path: the input register loaded with the "
        "window's port bits and driving each plane's read, each conversion round's ADC results latched for the "
        "shift-add of every plane, the output register written once per window; MNSIM-2.0 PE_latency.py charges one "
        "Digital_Frequency cycle for each (iReg line 74, ShiftReg line 76, oReg line 81)",
    )
    periphery_lanes: int = _param(
        4, "lanes", "PUMA simulator include/config.py: num_ALU = 2 · num_matrix = 4 vector ALU lanes per core",
        minimum=1, exclusive=False,
        note="each digital block between arrays has this many lanes of each unit (float adder, float multiplier, "
        "integer adder, comparator), one operation per lane and clock",
    )

    @property
    def clock_period_ns(self) -> float:
        """1 / clock (ns)."""
        return 1.0 / self.clock_ghz


@dataclass(frozen=True)
class BufferConfig(_Group):
    """SRAM line buffers and output buffers between layers."""

    TABLE: ClassVar[str] = "buffer"
    DESCRIPTION: ClassVar[str] = "SRAM line / output buffers"

    read_energy_pj_per_bit: float = _param(
        0.15625, "pJ/bit", "Horowitz, ISSCC 2014, 45 nm 0.9 V", minimum=0, exclusive=False,
        note="8 KB SRAM: 10 pJ per 64-bit access",
    )
    write_energy_pj_per_bit: float = _param(
        0.15625, "pJ/bit", "Horowitz, ISSCC 2014, 45 nm 0.9 V (write assumed = read)",
        minimum=0, exclusive=False,
        note="Horowitz gives one figure per 64-bit SRAM access; bnnc assumes writes cost the same",
    )
    area_um2_per_bit: float = _param(
        0.2392578125, "µm²/bit", "PUMA simulator constants.py, 32 nm", minimum=0, exclusive=False,
        note="2 KB SRAM data memory: 0.00392 mm² / 16384 bits, periphery included",
    )
    access_ns: float = _param(
        0.0, "ns", "bnnc assumption: line-buffer reads are pipelined with the array reads", minimum=0, exclusive=False,
        note="time of one access of access_bits on a window's critical path; MNSIM-2.0 Buffer.py: 20 ns per access",
    )
    access_bits: int = _param(64, "bits", "MNSIM-2.0 SimConfig.ini Buffer_Bitwidth = 64", minimum=1, exclusive=False)
    leakage_nw_per_bit: float = _param(
        187.28, "nW/bit", "MNSIM-2.0 Buffer.py SRAM table (CACTI), 2 KB, 64-bit port, technology < 65 nm",
        minimum=0, exclusive=False,
        note="3.06844 mW / 16384 bits; static power of every buffer bit for the whole latency of an inference",
    )
    bits_per_array: int = _param(
        2304, "bits", "ISAAC (Shafiee et al., ISCA 2016) IMA: 2 KB input + 256 B output register per 8 arrays",
        minimum=0, exclusive=False,
        note="input and output registers beside each array (16384 + 2048 bits / 8 arrays), on top of the line buffers",
    )
    macro_table: str = _param(
        "none", "", "bnnc default: buffers costed per bit", choices=("none", "mnsim-90nm"),
        note="mnsim-90nm: each array's share of its layer's line buffer is one SRAM macro chosen by size from "
        "MNSIM-2.0 Buffer.py's 90 nm, 64-bit table (backends/sram.py), with that macro's area, dynamic energy per "
        "access and leakage over the run; the per-bit figures above then cost only the bits_per_array registers",
    )


_MNSIM_DRIVER = "MNSIM-2.0 Crossbar.py: (7.3·2.7 + 9.5·3.8)·(tech/65)² µm² per row at 65 nm"


@dataclass(frozen=True)
class PeripheryConfig(_Group):
    """What surrounds each array besides its sensing: word-line drivers (one per row, switching
    a port to V_read), bit-line (write) drivers, the row decoder and the column multiplexers
    that let ``adc.share`` columns take turns on one ADC. Decoders and multiplexers are counted
    in transistors, as MNSIM-2.0 PE.py does: 8 transistors per 2:1 stage, so ``8 · (rows − 1)``
    per row decoder and ``8 · (share − 1)`` per ADC's column multiplexer."""

    TABLE: ClassVar[str] = "periphery"
    DESCRIPTION: ClassVar[str] = "word-line and bit-line drivers, decoders, column multiplexers"

    row_driver_area_um2: float = _param(
        55.81, "µm²", _MNSIM_DRIVER, minimum=0, exclusive=False,
        note="MNSIM cites 'Multi-level wordline driver for robust SRAM design in nano-scale CMOS technology' for "
        "drivers of 1-bit inputs; its analog-input driver is 1150 µm² per row (the 78.4 TOPS/W ReRAM chip)",
    )
    row_driver_power_uw: float = _param(
        3.9, "µW", "ISAAC 1-bit DAC, as MNSIM-2.0 DAC.py option 1 (0.0039 mW)", minimum=0, exclusive=False,
        note="a row driver spends power / rate per read in which its port is at V_read",
    )
    row_driver_rate_gsps: float = _param(1.0, "GS/s", "MNSIM-2.0 DAC.py sample rate (1 GS/s)", minimum=0)
    column_driver_area_um2: float = _param(
        55.81, "µm²", _MNSIM_DRIVER + " (bnnc assumes a bit-line write driver the size of a word-line driver)",
        minimum=0, exclusive=False,
        note="bit lines are held by the sense circuit during reads: the driver is used only when programming",
    )
    transistor_area_um2: float = _param(
        0.04225, "µm²", "MNSIM-2.0 PE.py: 10·F² per transistor, F = 65 nm", minimum=0, exclusive=False,
        note="decoders and column multiplexers: 8 transistors per 2:1 stage",
    )

    @property
    def row_drive_energy_pj(self) -> float:
        """Energy of one word-line drive, power / rate (pJ)."""
        return self.row_driver_power_uw * 1e-3 / self.row_driver_rate_gsps


@dataclass(frozen=True)
class InterconnectConfig(_Group):
    """Wires between a layer's buffers and its arrays and on to the next layer: every bit
    moved travels the side of the layer's block (the square root of its area) on a bus of
    ``bus_bits`` wires each way."""

    TABLE: ClassVar[str] = "interconnect"
    DESCRIPTION: ClassVar[str] = "on-chip wires between buffers and arrays"

    energy_pj_per_bit_mm: float = _param(
        0.0404, "pJ/(bit·mm)", "Park et al., DATE 2013: 40.4 fJ/bit/mm low-swing on-chip signaling, 45 nm SOI",
        minimum=0, exclusive=False, note="full-swing repeated wires cost several times more",
    )
    wire_pitch_um: float = _param(
        0.14, "µm", "FreePDK45 intermediate metal: 70 nm width + 70 nm spacing", minimum=0, exclusive=False,
    )
    bus_bits: int = _param(64, "wires", "MNSIM-2.0 SimConfig.ini Buffer_Bitwidth = 64", minimum=1, exclusive=False)
    bandwidth_gbps: float = _param(
        0.0, "Gb/s", "bnnc assumption: a window's results move to the next layer while the next window is read",
        minimum=0, exclusive=False,
        note="0: the transfer is not on a window's path; otherwise each window group's result bits take bits / "
        "bandwidth on it, as MNSIM-2.0 Model_latency.py (lines 889-890, 1016) charges every output position its "
        "outputchannel · outputbit / Inter_Tile_Bandwidth per hop (SimConfig.ini Inter_Tile_Bandwidth = 20 Gb/s)",
    )


_MNSIM_SAF = "MNSIM-2.0 Device_SAF: 0.1 % stuck off + 0.1 % stuck on"
_SPARES = "bnnc: redundancy for fault-aware compilation (NeuroSim/MNSIM have none)"


@dataclass(frozen=True)
class DeviceConfig(_Group):
    """Device non-idealities (DESIGN.md §10), all zero by default: the ideal device, on which
    the compiled program stays bit-exact. They apply per physical cell after sign conversion
    and tiling (replicas are separate cells); chip-static draws happen once per chip, read
    noise once per array read (CrossSim's timing). A Monte Carlo over chips
    (``bnnc --chips N``, :meth:`bnnc.Compilation.robustness`) samples them."""

    TABLE: ClassVar[str] = "device"
    DESCRIPTION: ClassVar[str] = "device non-idealities (all 0: the ideal device)"

    program_sigma: float = _param(
        0.0, "relative", "MNSIM-2.0 Device_Variation 1 %; CrossSim sweeps 2-40 %",
        minimum=0, exclusive=False,
        note="log-normal programming error drawn once per chip and cell: G = G0 · exp(σ·ε), ε ~ N(0, 1) "
        "(median G0, relative spread ≈ σ for small σ, never negative); stuck cells are not programmed",
    )
    read_sigma: float = _param(
        0.0, "relative", "CrossSim read noise; aihwkit read noise (both relative to G, per read)",
        minimum=0, exclusive=False,
        note="Gaussian per cell and array read: G · (1 + σ·ε); a column then gets a current N(0, σ²·Σ_k "
        "(V_k·G_kj)²) added, which is that sum's exact distribution",
    )
    stuck_hrs: float = _param(
        0.0, "fraction of cells", _MNSIM_SAF, minimum=0, exclusive=False, maximum=1,
        note="cells stuck in the high-resistance (off) state, drawn once per chip; named by the state "
        "because MNSIM's and PytorX's SA0/SA1 mean opposite things",
    )
    stuck_lrs: float = _param(
        0.0, "fraction of cells", _MNSIM_SAF, minimum=0, exclusive=False, maximum=1,
        note="cells stuck in the low-resistance (on) state, drawn once per chip; a cell is stuck off with "
        "probability stuck_hrs and on with probability stuck_lrs (their sum must not exceed 1)",
    )
    wire_ohm: float = _param(
        0.0, "Ω", "MNSIM-2.0 wire resistance 2.82 Ω per segment; aihwkit 0.15 Ω",
        minimum=0, exclusive=False,
        note="one wire segment between adjacent cells along rows and columns (IR drop, nodal analysis)",
    )
    comparator_offset_sigma: float = _param(
        0.0, "A", "XNOR-RRAM (Sun et al., DATE 2018) studies the sense amplifier's input offset",
        minimum=0, exclusive=False,
        note="input-referred offset of each analog comparator, Gaussian, drawn once per chip and comparator",
    )
    drift_nu: float = _param(
        0.0, "", "aihwkit drift G(t) = G(t0) · (t / t0)^-ν",
        minimum=0, exclusive=False, note="mean drift exponent of every cell",
    )
    drift_nu_sigma: float = _param(
        0.0, "", "bnnc: per-cell spread of ν (aihwkit draws ν per device)", minimum=0, exclusive=False,
        note="ν drawn once per chip and cell from N(drift_nu, drift_nu_sigma²), clipped at 0",
    )
    drift_t_seconds: float = _param(
        0.0, "s", "bnnc: time of the read after programming; 0 (or up to t0): no drift",
        minimum=0, exclusive=False,
    )
    drift_t0_seconds: float = _param(20.0, "s", "aihwkit t0 = 20 s (drift reference time)", minimum=0)
    spare_rows: int = _param(
        0, "rows per array", _SPARES, minimum=0, exclusive=False,
        note="with --fault-aware, the rows with the most wrong stuck cells move to spare rows",
    )
    spare_cols: int = _param(
        0, "columns per array", _SPARES, minimum=0, exclusive=False,
        note="with --fault-aware, the columns with the most wrong stuck cells move to spare columns",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stuck_hrs + self.stuck_lrs > 1:
            raise HardwareConfigError(
                f"DeviceConfig: [device] stuck_lrs: expected stuck_hrs + stuck_lrs <= 1, got "
                f"{_fmt(self.stuck_hrs)} + {_fmt(self.stuck_lrs)}", key="device.stuck_lrs")

    @property
    def ideal(self) -> bool:
        """Whether every non-ideality is off (the default)."""
        return self == DeviceConfig()


# --------------------------------------------------------------------------------------------
# The whole configuration

_GROUPS: dict[str, type[_Group]] = {
    g.TABLE: g
    for g in (ArrayConfig, CellConfig, ReadConfig, ComparatorConfig, AdcConfig, DacConfig, DigitalConfig, BufferConfig,
              PeripheryConfig, InterconnectConfig, DeviceConfig)
}

_SCHEMA = 1  # bump when the meaning of an existing key changes


def adc_bits_for(rows: int) -> int:
    """ADC bits needed to digitize a column sum over ``rows`` binary inputs without loss:
    ``ceil(log2(rows + 1))`` (rows + 1 levels, 0..rows)."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be an integer >= 1, got {rows!r}")
    return rows.bit_length()  # == ceil(log2(rows + 1)), exactly


@dataclass(frozen=True)
class HardwareConfig:
    """The complete hardware model; ``HardwareConfig()`` is the documented default.

    Values are read as ``hw.adc.power_6bit_mw`` or ``hw.value_of("adc.power_6bit_mw")``;
    :meth:`source_of` gives the citation of a key's default, :meth:`describe` a printable
    ``"1.26 mW (MNSIM ADC option 4)"``. :attr:`origins` records which keys a file or caller
    set to a non-default value (it takes no part in equality or the digest)."""

    array: ArrayConfig = field(default_factory=ArrayConfig)
    cell: CellConfig = field(default_factory=CellConfig)
    read: ReadConfig = field(default_factory=ReadConfig)
    comparator: ComparatorConfig = field(default_factory=ComparatorConfig)
    adc: AdcConfig = field(default_factory=AdcConfig)
    dac: DacConfig = field(default_factory=DacConfig)
    digital: DigitalConfig = field(default_factory=DigitalConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    periphery: PeripheryConfig = field(default_factory=PeripheryConfig)
    interconnect: InterconnectConfig = field(default_factory=InterconnectConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    """``(dotted key, origin)`` for every key whose value differs from the default; the origin
    is the file (or other place) that set it."""

    def __post_init__(self) -> None:
        for table, group in _GROUPS.items():
            if not isinstance(getattr(self, table), group):
                raise HardwareConfigError(f"HardwareConfig: {table} must be a {group.__name__}", key=table)
        if self.cell.r_off_ohm <= self.cell.r_on_ohm:
            raise HardwareConfigError(
                f"HardwareConfig: [cell] r_off_ohm: expected a value > r_on_ohm "
                f"({_fmt(self.cell.r_on_ohm)} Ω), got {_fmt(self.cell.r_off_ohm)}",
                key="cell.r_off_ohm",
            )

    # ---- keys, values, sources ---------------------------------------------------------------

    @classmethod
    def keys(cls) -> list[str]:
        """Every dotted key, in document order (``"array.rows"``, ...)."""
        return [f"{table}.{name}" for table, group in _GROUPS.items() for name, _, _ in _specs(group)]

    @staticmethod
    def _spec(key: str) -> _Spec:
        table, _, name = key.partition(".")
        group = _GROUPS.get(table)
        for fname, spec, _ in _specs(group) if group else ():
            if fname == name:
                return spec
        raise KeyError(f"unknown hardware key {key!r}; keys are {', '.join(HardwareConfig.keys())}")

    @classmethod
    def source_of(cls, key: str) -> str:
        """Citation for the default of ``key`` (e.g. ``"adc.power_6bit_mw"`` →
        ``"MNSIM ADC option 4"``)."""
        return cls._spec(key).source

    @classmethod
    def note_of(cls, key: str) -> str | None:
        """Longer explanation of the default of ``key`` (where the figure was found, how it was
        derived), if there is one."""
        return cls._spec(key).note

    @classmethod
    def unit_of(cls, key: str) -> str:
        """Unit of ``key`` as printed (``"mW"``, ``"µm²"``; empty for strings)."""
        return cls._spec(key).unit

    @classmethod
    def default_of(cls, key: str) -> Any:
        """The documented default value of ``key``."""
        return _DEFAULT.value_of(key)

    def value_of(self, key: str) -> Any:
        """The value of dotted ``key``."""
        self._spec(key)
        table, _, name = key.partition(".")
        return getattr(getattr(self, table), name)

    def origin_of(self, key: str) -> str | None:
        """Where the value of ``key`` came from if it is not the default (a file name), else
        ``None``."""
        self._spec(key)
        return dict(self.origins).get(key)

    def describe(self, key: str) -> str:
        """``"1.26 mW (MNSIM ADC option 4)"``; for an overridden value
        ``"3 mW (hw.toml; default 1.26 mW, MNSIM ADC option 4)"``."""
        spec = self._spec(key)
        text = _with_unit(self.value_of(key), spec.unit)
        origin = self.origin_of(key)
        if origin is None:
            return f"{text} ({spec.source})"
        return f"{text} ({origin}; default {_with_unit(self.default_of(key), spec.unit)}, {spec.source})"

    def values(self) -> dict[str, dict[str, Any]]:
        """``{table: {key: value}}``, every key."""
        return {table: dataclasses.asdict(getattr(self, table)) for table in _GROUPS}

    # ---- overrides ---------------------------------------------------------------------------

    def with_values(self, values: Mapping[str, Any], origin: str = "<api>") -> HardwareConfig:
        """A copy with ``{dotted key: value}`` applied, validated like a TOML file (errors are
        :class:`HardwareConfigError` naming ``origin``)."""
        tables: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            table, dot, name = key.partition(".")
            if not dot:
                raise HardwareConfigError(f"{origin}: {key}: expected a dotted key such as array.rows", path=origin, key=key)
            tables.setdefault(table, {})[name] = value
        return _build(tables, origin, base=self)

    def overrides(self) -> dict[str, tuple[Any, str]]:
        """``{dotted key: (value, origin)}`` for every key that differs from the default:
        with :func:`hardware_from_overrides`, all it takes to rebuild this configuration."""
        return {key: (self.value_of(key), origin) for key, origin in self.origins}

    # ---- derived quantities ------------------------------------------------------------------

    @property
    def cell_read_energy_on_pj(self) -> float:
        """Energy dissipated in one on cell during one read with its input high:
        V_read² · G_on · t_read (pJ)."""
        return self.read.voltage_v**2 * self.cell.g_on_s * self.read.time_ns * 1e-9 * 1e12

    @property
    def cell_read_energy_off_pj(self) -> float:
        """Energy dissipated in one off cell during one read with its input high:
        V_read² · G_off · t_read (pJ)."""
        return self.read.voltage_v**2 * self.cell.g_off_s * self.read.time_ns * 1e-9 * 1e12

    @property
    def cell_current_on_ua(self) -> float:
        """Current through an on cell with its input high, V_read · G_on (µA)."""
        return self.read.voltage_v * self.cell.g_on_s * 1e6

    @property
    def cell_current_off_ua(self) -> float:
        """Current through an off cell with its input high, V_read · G_off (µA)."""
        return self.read.voltage_v * self.cell.g_off_s * 1e6

    @property
    def array_area_um2(self) -> float:
        """Cell area of one array, rows · cols · cell area (µm²; periphery not included)."""
        return self.array.cells * self.cell.area_um2

    @staticmethod
    def adc_bits_for(rows: int) -> int:
        """``ceil(log2(rows + 1))``: see :func:`adc_bits_for`."""
        return adc_bits_for(rows)

    def adc_conversion_ns(self, bits: int) -> float:
        """Time of one ``bits``-bit conversion (ns)."""
        return self.adc.point(bits).conversion_ns

    def adcs_for(self, columns: int) -> int:
        """ADCs serving ``columns`` columns, ``ceil(columns / share)``."""
        return -(-columns // self.adc.share)

    def cycles(self, ns: float) -> int:
        """Whole digital clock cycles covering ``ns`` nanoseconds."""
        return int(math.ceil(ns * self.digital.clock_ghz - 1e-9))

    @property
    def read_cycles(self) -> int:
        """Clock cycles of one array read."""
        return self.cycles(self.read.time_ns)

    # ---- identity and output -----------------------------------------------------------------

    def digest(self) -> str:
        """A short stable hash (16 hex digits of SHA-256) of every value: equal configurations
        give equal digests, whatever file they came from."""
        values = self.values()
        if self.device.ideal:  # the ideal device leaves the digest as it was before [device] existed
            del values["device"]
        text = json.dumps({"schema": _SCHEMA, "values": values}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """Every value with its unit and source (and, if overridden, where from and the
        default), plus the derived quantities with their formulas — for ``report.json``."""
        parameters: dict[str, dict[str, Any]] = {}
        for table, group in _GROUPS.items():
            entries = parameters.setdefault(table, {})
            for name, spec, default in _specs(group):
                key = f"{table}.{name}"
                entry: dict[str, Any] = {"value": self.value_of(key), "unit": spec.unit, "source": spec.source}
                if spec.note:
                    entry["note"] = spec.note
                origin = self.origin_of(key)
                if origin is not None:
                    entry["source"] = origin
                    entry["default"] = default
                    entry["default_source"] = spec.source
                entries[name] = entry
        bits = adc_bits_for(self.array.rows)
        point = self.adc.point(bits)
        derived = {
            "g_on_s": (self.cell.g_on_s, "S", "1 / r_on_ohm"),
            "g_off_s": (self.cell.g_off_s, "S", "1 / r_off_ohm"),
            "delta_g_s": (self.cell.delta_g_s, "S", "g_on − g_off"),
            "cell_read_energy_on_pj": (self.cell_read_energy_on_pj, "pJ", "V_read² · G_on · t_read"),
            "cell_read_energy_off_pj": (self.cell_read_energy_off_pj, "pJ", "V_read² · G_off · t_read"),
            "comparator_energy_pj": (self.comparator.energy_pj, "pJ", "comparator power / rate"),
            "row_drive_energy_pj": (self.periphery.row_drive_energy_pj, "pJ", "row driver power / rate"),
            "clock_period_ns": (self.digital.clock_period_ns, "ns", "1 / clock_ghz"),
            "read_cycles": (self.read_cycles, "cycles", "ceil(read time · clock)"),
            "adc_bits_full_array": (bits, "bits", "ceil(log2(array rows + 1))"),
            "adc_power_full_array_mw": (point.power_mw, "mW", point.rule),
            "adc_rate_full_array_gsps": (point.rate_gsps, "GS/s", point.rule),
            "adc_area_full_array_um2": (point.area_um2, "µm²", point.rule),
            "adc_energy_full_array_pj": (point.energy_pj, "pJ", "ADC power / rate"),
        }
        return {
            "digest": self.digest(),
            "parameters": parameters,
            "derived": {k: {"value": v, "unit": u, "formula": f} for k, (v, u, f) in derived.items()},
        }

    def to_toml(self) -> str:
        """This configuration as a complete TOML document, every key with a comment giving its
        unit and source; :func:`loads_hardware` of it gives back an equal configuration."""
        lines = [
            "# bnnc hardware configuration. Every resource, energy, area and timing figure bnnc",
            "# reports is computed from these values. Override any of them in your own file",
            "# (keys you leave out keep these defaults) and pass it with --hw FILE.",
            "# Units are part of the key names; the comment above each key gives unit and source.",
        ]
        if self.origins:
            lines.append("# Keys marked 'overridden' differ from bnnc's defaults.")
        for table, group in _GROUPS.items():
            lines += ["", f"# {group.DESCRIPTION}", f"[{table}]"]
            for name, spec, default in _specs(group):
                key = f"{table}.{name}"
                if spec.choices is not None:
                    unit = "[" + " | ".join(f'"{c}"' for c in spec.choices) + "] "
                else:
                    unit = f"[{spec.unit}] " if spec.unit else ""
                lines += _wrap(f"{unit}{spec.source}", "# ")
                if spec.note:
                    lines += _wrap(spec.note, "#   ")
                origin = self.origin_of(key)
                if origin is not None:
                    lines.append(f"#   overridden by {origin}; default {_toml_value(default)}")
                lines.append(f"{name} = {_toml_value(self.value_of(key))}")
        return "\n".join(lines) + "\n"


_DEFAULT = HardwareConfig()


def default_hardware() -> HardwareConfig:
    """The documented default configuration (DESIGN.md §6)."""
    return _DEFAULT


def hardware_from_overrides(overrides: Mapping[str, tuple[Any, str]]) -> HardwareConfig:
    """The default configuration with ``{dotted key: (value, origin)}`` applied (the inverse of
    :meth:`HardwareConfig.overrides`), validated like a file."""
    by_origin: dict[str, dict[str, Any]] = {}
    for key, (value, origin) in overrides.items():
        by_origin.setdefault(origin, {})[key] = value
    hw = _DEFAULT
    for origin, values in by_origin.items():
        hw = hw.with_values(values, origin)
    return hw


def default_hardware_toml() -> str:
    """The complete default configuration as a commented TOML document (what
    ``bnnc --print-default-hw`` prints); :func:`loads_hardware` of it gives exactly the
    defaults."""
    return _DEFAULT.to_toml()


# --------------------------------------------------------------------------------------------
# Loading


def load_hardware(path: str | os.PathLike[str]) -> HardwareConfig:
    """Read a TOML hardware file: tables matching the groups, any subset of keys; missing keys
    keep their defaults. Raises :class:`HardwareConfigError` (one line naming the file and the
    key) for unreadable files, TOML syntax errors (with line and column), unknown tables or
    keys and bad values."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise HardwareConfigError(f"{name}: cannot read hardware file: {err.strerror or err}", path=name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HardwareConfigError(f"{name}: not UTF-8 text (byte {err.start}); TOML files must be UTF-8", path=name) from None
    return loads_hardware(text, name)


def loads_hardware(text: str, name: str = "<string>") -> HardwareConfig:
    """:func:`load_hardware` on TOML ``text``; ``name`` is the file name used in messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = " ".join(str(err).split())
        raise HardwareConfigError(f"{name}: TOML syntax error: {message}", path=name) from None
    tables: dict[str, dict[str, Any]] = {}
    for table, content in document.items():
        if table not in _GROUPS:
            if not isinstance(content, dict):  # a key outside any table
                owners = [t for t, g in _GROUPS.items() if any(table == n for n, _, _ in _specs(g))]
                hint = "did you mean " + " or ".join(f"[{t}] {table}" for t in owners) + "?" if owners else "such as [array]"
                raise HardwareConfigError(
                    f"{name}: {table}: keys must be inside a table, {hint}", path=name, key=table
                )
            raise HardwareConfigError(
                f"{name}: [{table}]: unknown table; expected one of "
                + ", ".join(f"[{t}]" for t in _GROUPS),
                path=name, key=table,
            )
        if not isinstance(content, dict):
            raise HardwareConfigError(
                f"{name}: {table}: expected a table [{table}], got {_show(content)}", path=name, key=table
            )
        tables[table] = content
    return _build(tables, name, base=_DEFAULT)


def _build(tables: Mapping[str, Mapping[str, Any]], origin: str, base: HardwareConfig) -> HardwareConfig:
    """``base`` with ``{table: {key: value}}`` applied; every key and value validated."""
    groups: dict[str, _Group] = {}
    origins = dict(base.origins)
    for table, group in _GROUPS.items():
        given = tables.get(table, {})
        specs = {n: s for n, s, _ in _specs(group)}
        values = dataclasses.asdict(getattr(base, table))
        for key, raw in given.items():
            if key not in specs:
                raise HardwareConfigError(
                    f"{origin}: [{table}] {key}: unknown key; expected one of {', '.join(specs)}",
                    path=origin, key=f"{table}.{key}",
                )
            try:
                values[key] = specs[key].check(raw)
            except _Invalid as bad:
                raise HardwareConfigError(
                    f"{origin}: [{table}] {key}: expected {bad.expected}, got {_show(bad.value)}",
                    path=origin, key=f"{table}.{key}",
                ) from None
            dotted = f"{table}.{key}"
            if values[key] == HardwareConfig.default_of(dotted):
                origins.pop(dotted, None)
            else:
                origins[dotted] = origin
        try:
            groups[table] = group(**values)
        except HardwareConfigError as e:  # a rule across keys of the table: name the file
            raise HardwareConfigError(f"{origin}: {str(e).removeprefix(group.__name__ + ': ')}", path=origin, key=e.key) from None
    for table in tables:
        if table not in _GROUPS:
            raise HardwareConfigError(
                f"{origin}: [{table}]: unknown table; expected one of " + ", ".join(f"[{t}]" for t in _GROUPS),
                path=origin, key=table,
            )
    cell = groups["cell"]
    if cell.r_off_ohm <= cell.r_on_ohm:  # type: ignore[attr-defined]
        given = tables.get("cell", {})
        if "r_off_ohm" in given or "r_on_ohm" not in given:
            message = f"[cell] r_off_ohm: expected a value > r_on_ohm ({_fmt(cell.r_on_ohm)} Ω), got {_fmt(cell.r_off_ohm)}"  # type: ignore[attr-defined]
            key = "cell.r_off_ohm"
        else:
            message = f"[cell] r_on_ohm: expected a value < r_off_ohm ({_fmt(cell.r_off_ohm)} Ω), got {_fmt(cell.r_on_ohm)}"  # type: ignore[attr-defined]
            key = "cell.r_on_ohm"
        raise HardwareConfigError(f"{origin}: {message}", path=origin, key=key)
    order = {k: i for i, k in enumerate(HardwareConfig.keys())}
    return HardwareConfig(**groups, origins=tuple(sorted(origins.items(), key=lambda kv: order[kv[0]])))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Formatting


def _fmt(value: Any) -> str:
    """A number as people write it: 10000 rather than 10000.0, 1.26 rather than 1.2600000001."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def _with_unit(value: Any, unit: str) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return f"{_fmt(value)} {unit}".rstrip()


def _show(value: Any) -> str:
    """A user's value as it would appear in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if len(value) > 4 else "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return f"a {type(value).__name__} ({value})"


def _toml_value(value: Any) -> str:
    """``value`` as a TOML literal that reads back exactly."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)  # shortest round-tripping form; valid TOML for finite floats
    return str(value)


def _wrap(text: str, first: str) -> list[str]:
    """``text`` as TOML comment lines of at most 96 characters (words and hyphenated names kept
    whole)."""
    return textwrap.wrap(
        text, 96, initial_indent=first, subsequent_indent="#   ", break_long_words=False, break_on_hyphens=False
    )
