"""What LLM tokens cost: the config's own prices, else the built-in table of well-known OpenAI models
(`prices.json`, the one place those figures live)."""

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from registry.models import LLMConfig

PRICE_TABLE_PATH = Path(__file__).with_name("prices.json")
MILLION = Decimal(1_000_000)
COST_DECIMALS = 8


@dataclass(frozen=True)
class Prices:
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    source: Literal["config", "builtin"]


@functools.cache
def _price_table() -> dict[str, tuple[Decimal, Decimal]]:
    models = json.loads(PRICE_TABLE_PATH.read_text(encoding="utf-8"))["models"]
    return {
        name.lower(): (Decimal(str(entry["input"])), Decimal(str(entry["output"])))
        for name, entry in models.items()
    }


def builtin_prices(model: str) -> tuple[Decimal, Decimal] | None:
    """The table's (input, output) price of `model`: its longest listed prefix, so dated snapshots and
    `provider/` prefixes take their family's price. None for a model the table does not know."""
    name = model.rsplit("/", 1)[-1].lower()
    table = _price_table()
    matches = [prefix for prefix in table if name == prefix or name.startswith((prefix + "-", prefix + "."))]
    return table[max(matches, key=len)] if matches else None


def llm_prices(config: LLMConfig) -> Prices | None:
    """The prices a config's tokens are charged at; None when either one is unknown."""
    builtin = builtin_prices(config.model) or (None, None)
    input_price = config.input_price_per_mtok if config.input_price_per_mtok is not None else builtin[0]
    output_price = config.output_price_per_mtok if config.output_price_per_mtok is not None else builtin[1]
    if input_price is None or output_price is None:
        return None
    own = config.input_price_per_mtok is not None or config.output_price_per_mtok is not None
    return Prices(Decimal(input_price), Decimal(output_price), "config" if own else "builtin")


def usage_cost(config: LLMConfig, usage: Mapping[str, Any]) -> Decimal | None:
    """The cost in USD of one LLM turn's usage; a turn answered from the response cache costs nothing.
    None when the config's prices are unknown."""
    if usage.get("cached"):
        return Decimal(0)
    prices = llm_prices(config)
    if prices is None:
        return None
    prompt = Decimal(int(usage.get("prompt_tokens") or 0))
    completion = Decimal(int(usage.get("completion_tokens") or 0))
    return (prompt * prices.input_per_mtok + completion * prices.output_per_mtok) / MILLION


def cost_as_number(cost: Decimal | None) -> float | None:
    """A cost as the JSON number runs, events and reports carry."""
    return None if cost is None else round(float(cost), COST_DECIMALS)
