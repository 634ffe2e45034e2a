from typing import Literal

ChainBreakType4 = Literal["head_mismatch"]

CHAIN_BREAK_TYPE_4_VALUES: set[ChainBreakType4] = {
    "head_mismatch",
}


def check_chain_break_type_4(value: str) -> ChainBreakType4:
    if value in CHAIN_BREAK_TYPE_4_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {CHAIN_BREAK_TYPE_4_VALUES!r}"
    )
