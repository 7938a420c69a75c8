"""SRAM buffer macros chosen by capacity, as MNSIM-2.0 sizes its PE input buffers.

MNSIM-2.0 (thu-nics/MNSIM-2.0 at ca39ccb, ``MNSIM/Hardware_Model/Buffer.py``) does not cost a
buffer per bit: it picks one CACTI SRAM macro by the buffer's capacity (lines 37–112: the
smallest of ≤ 2, 4, 8, …, 256 KB that holds it, the 512 KB macro beyond) and port width, and
takes that macro's area (line 359), dynamic energy per access (read line 385, write line 407),
leakage power (line 327) and access cycle (line 325, 20 ns). :data:`MNSIM_SRAM_90NM` is the
90 nm, 64-bit-port column of those tables (``Buffer_Technology = 90``, ``Buffer_Bitwidth = 64``
in MNSIM's SimConfig.ini: indices 0, 4, 8, …, 32).

:func:`macros_for` sizes a buffer of ``bits`` with that table: one macro, the smallest that
holds the bits; a buffer larger than the largest macro takes as many of it as it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SramMacro:
    """One SRAM macro: capacity (bytes), area (µm²), dynamic energy of one read and one write
    access of ``access_bits`` (pJ) and leakage (mW, drawn for as long as the macro is powered)."""

    capacity_bytes: int
    area_um2: float
    read_pj: float
    write_pj: float
    leakage_mw: float
    access_bits: int = 64

    @property
    def read_pj_per_bit(self) -> float:
        """Dynamic read energy per bit accessed (pJ)."""
        return self.read_pj / self.access_bits

    @property
    def write_pj_per_bit(self) -> float:
        """Dynamic write energy per bit accessed (pJ)."""
        return self.write_pj / self.access_bits


_KB = 1024
MNSIM_SRAM_90NM: tuple[SramMacro, ...] = (
    # capacity, area (Buffer.py line 359, mm² → µm²), read / write energy (lines 385 / 407, nJ → pJ),
    # leakage (line 327, mW): MNSIM-2.0 Buffer.py, 90 nm, 64-bit port
    SramMacro(2 * _KB, 40580.3, 7.5695, 13.1361, 1.006428),
    SramMacro(4 * _KB, 68694.7, 8.54257, 19.9484, 1.95684),
    SramMacro(8 * _KB, 156974.886, 18.382, 21.1344, 4.1222),
    SramMacro(16 * _KB, 616313.686, 44.837, 43.7094, 8.86342),
    SramMacro(32 * _KB, 1060004.216, 61.8356, 60.1423, 17.46566),
    SramMacro(64 * _KB, 1974404.875, 103.042, 88.27501, 32.1096),
    SramMacro(128 * _KB, 3583918.894, 156.421, 116.896, 63.688),
    SramMacro(256 * _KB, 6974574.682, 275.02, 162.096, 121.8756),
    SramMacro(512 * _KB, 14221120.82, 356.492, 243.037, 243.484),
)
"""MNSIM-2.0's SRAM macros at 90 nm with a 64-bit port, smallest first."""

SRAM_TABLES: dict[str, tuple[SramMacro, ...]] = {"mnsim-90nm": MNSIM_SRAM_90NM}
"""The macro tables ``buffer.macro_table`` names."""


def macros_for(bits: int, table: tuple[SramMacro, ...]) -> tuple[SramMacro, int]:
    """The macro of ``table`` (smallest first) a buffer of ``bits`` is built from, and how many:
    one of the smallest that holds the bits, or as many of the largest as hold them."""
    needed = math.ceil(bits / 8)
    for macro in table:
        if needed <= macro.capacity_bytes:
            return macro, 1
    largest = table[-1]
    return largest, math.ceil(needed / largest.capacity_bytes)
