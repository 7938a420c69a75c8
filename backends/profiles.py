"""Built-in hardware profiles: whole configurations named on the command line (``--hw mnsim``)
or in Python (``bnnc.compile(..., hw="mnsim")``), every value with the place it comes from.

``mnsim`` mirrors MNSIM-2.0 (thu-nics/MNSIM-2.0: SimConfig.ini and MNSIM/Hardware_Model) as
it estimates a binary network with 1-bit sense amplifiers: 256 × 256 1T1R arrays of 1.44 µm²
cells at 10 kΩ / 1 MΩ read at 0.15 V for 3.16 ns, inputs at V_read one read in ten, a
1150 µm² driver per row, a 500 MHz digital clock with one cycle per register transfer on a
window's path, 45 nm adders and registers, MNSIM's 90 nm SRAM macros as input buffers (one per
array, chosen by the size of its share of the layer's line buffer, leaking over the run), arrays
placed in tiles of eight (four PEs of two arrays) with every slot's area counted; no
network-on-chip (``NoC_enable = 0``), but each window's results sent one hop at MNSIM's 20 Gb/s
inter-tile bandwidth. ``docs/mnsim-comparison.md`` sets bnnc with this
profile beside MNSIM's figures for FINN's CNV.
"""

from __future__ import annotations

from typing import Any

from .hardware import HardwareConfig, hardware_from_overrides

_INI = "MNSIM-2.0 SimConfig.ini"

MNSIM: dict[str, tuple[Any, str]] = {
    "array.rows": (256, f"{_INI} Xbar_Size = 256,256"),
    "array.cols": (256, f"{_INI} Xbar_Size = 256,256"),
    "read.time_ns": (3.16, f"{_INI} Read_Latency = 3.16 (NTHU ISSCC19)"),
    "read.port_activity": (0.1, "MNSIM-2.0 Device.py: V² = 0.9·0² + 0.1·V_read²"),
    "adc.share": (2, f"{_INI} ADC_Num = 128 per 256-column subarray"),
    "digital.clock_ghz": (0.5, f"{_INI} Digital_Frequency = 500 MHz"),
    "digital.register_cycles": (1, "MNSIM-2.0 PE_latency.py: iReg (line 74), ShiftReg (line 76) and oReg (line 81) "
                                   "each take one Digital_Frequency cycle per access"),
    "digital.adder_energy_pj_per_bit": (5e-06, "MNSIM-2.0 Adder.py, 45 nm: 2.5 nW per bit for one 2 ns cycle"),
    "digital.adder_area_um2_per_bit": (0.2835, "MNSIM-2.0 Adder.py, 45 nm: 10·14·45² nm² per bit"),
    "digital.register_energy_pj_per_bit": (2.2527e-06, "MNSIM-2.0 Reg.py: 18.8 nW·(45/65)² for one 2 ns cycle, per 8 bits"),
    "digital.register_area_um2_per_bit": (0.08541, "MNSIM-2.0 Reg.py: 1.4256 µm²·(45/65)² per 8-bit register"),
    "buffer.macro_table": ("mnsim-90nm", f"{_INI} Buffer_Technology = 90, Buffer_Bitwidth = 64; MNSIM-2.0 "
                                         "Tile_connection_graph.py lines 301 and 470 size each PE's input buffer from "
                                         "its layer's line buffer, Buffer.py lines 37-112 pick the SRAM entry by size"),
    "buffer.access_ns": (20.0, "MNSIM-2.0 Buffer.py line 325: buf_cycle = 20 ns per 64-bit access, not overlapped"),
    "buffer.bits_per_array": (0, "MNSIM-2.0 PE.py: a PE's input buffer is its SRAM macro (buffer.macro_table); "
                                 "its input and output registers (Reg.py) are digital"),
    "array.arrays_per_tile": (8, f"{_INI} PE_Num = 2,2 (4 PEs per tile) x Xbar_Polarity = 2 (2 arrays per PE); "
                                 "MNSIM-2.0 Tile_connection_graph.py line 463 gives each layer ceil(PEs / 4) tiles, "
                                 "Model_Area.py line 82 and Tile.py lines 195-216 count every PE slot of a tile"),
    "periphery.row_driver_area_um2": (1150.0, "MNSIM-2.0 Crossbar.py: 1150 µm² per row (78.4 TOPS/W ReRAM chip)"),
    "periphery.row_driver_rate_gsps": (1 / 3, "MNSIM-2.0 DAC.py: latency (precision + 2) / 1 GS/s = 3 ns"),
    "periphery.column_driver_area_um2": (0.0, "MNSIM-2.0 Crossbar.py counts no bit-line driver"),
    "periphery.transistor_area_um2": (0.169, f"MNSIM-2.0 PE.py 10·F², {_INI} Transistor_Tech = 130 nm"),
    "interconnect.bandwidth_gbps": (20.0, f"{_INI} Inter_Tile_Bandwidth = 20 Gb/s; MNSIM-2.0 Model_latency.py lines "
                                          "889-890 and 1016 charge every output position's bits over it, per hop (one hop here)"),
    "interconnect.energy_pj_per_bit_mm": (0.0, f"{_INI} NoC_enable = 0: no interconnect costed"),
    "interconnect.wire_pitch_um": (0.0, f"{_INI} NoC_enable = 0: no interconnect costed"),
}
"""The ``mnsim`` profile: dotted key → (value, source); keys not listed keep bnnc's defaults,
which already are MNSIM's (cells, read voltage, the 1-bit sense amplifier of ADC option 8)."""

PROFILES: dict[str, dict[str, tuple[Any, str]]] = {"mnsim": MNSIM}


def builtin_profile(name: str) -> HardwareConfig:
    """The built-in profile ``name`` (one of :data:`PROFILES`); each value's origin in the report
    is ``"mnsim profile: <source>"``."""
    values = PROFILES[name]
    return hardware_from_overrides({key: (value, f"{name} profile: {source}") for key, (value, source) in values.items()})
