"""Type stub for the C helper built from _seq_merge.c (see word_index.py's _common_py)."""

from array import array

def common(arrays: list[array[int]], /) -> list[int]: ...
