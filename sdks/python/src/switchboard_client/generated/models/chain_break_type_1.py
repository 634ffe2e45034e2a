from typing import Literal

ChainBreakType1 = Literal["prev_hash_mismatch"]

CHAIN_BREAK_TYPE_1_VALUES: set[ChainBreakType1] = {
    "prev_hash_mismatch",
}


def check_chain_break_type_1(value: str) -> ChainBreakType1:
    if value in CHAIN_BREAK_TYPE_1_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {CHAIN_BREAK_TYPE_1_VALUES!r}"
    )
