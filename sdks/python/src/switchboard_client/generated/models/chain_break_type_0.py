from typing import Literal

ChainBreakType0 = Literal["hash_mismatch"]

CHAIN_BREAK_TYPE_0_VALUES: set[ChainBreakType0] = {
    "hash_mismatch",
}


def check_chain_break_type_0(value: str) -> ChainBreakType0:
    if value in CHAIN_BREAK_TYPE_0_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {CHAIN_BREAK_TYPE_0_VALUES!r}"
    )
