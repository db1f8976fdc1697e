#!/usr/bin/env python3
"""Writes reviews.jsonl: the quickstart's product reviews.

Deterministic (fixed seed) so the committed file can be regenerated exactly:
    python3 examples/quickstart/make_data.py > examples/quickstart/reviews.jsonl

Columns: item_id, review_text, price (for the bucketize UDF), ds (partition
date, the event time), review_text_embedding (a pre-extracted 64-dim vector,
published with --no-transform when no embedding endpoint is configured).
"""
import json
import math
import random

rng = random.Random(20250509)
products = [
    ("dog food", "Vitality canned dog food"), ("cat litter", "clumping cat litter"),
    ("coffee", "dark roast coffee beans"), ("green tea", "sencha green tea"),
    ("headphones", "wireless headphones"), ("kettle", "electric kettle"),
    ("running shoes", "trail running shoes"), ("backpack", "hiking backpack"),
    ("desk lamp", "LED desk lamp"), ("olive oil", "extra virgin olive oil"),
    ("phone case", "silicone phone case"), ("yoga mat", "non-slip yoga mat"),
]
openers = ["Great", "Disappointing", "Solid", "Excellent", "Mediocre", "Surprisingly good", "Not worth it", "Decent"]
bodies = [
    "I have bought several of these and found them all to be of good quality.",
    "It broke after two weeks and support never answered.",
    "Arrived quickly, well packaged, works exactly as described.",
    "The price is fair for what you get, though the smell is strong at first.",
    "My family uses it every day and nobody has complained.",
    "Cheaper alternatives do the same job just as well.",
    "Feels premium and the details are well thought out.",
    "Instructions were confusing but it works fine now.",
]
closers = ["Would buy again.", "Returning it.", "Five stars.", "Two stars.", "Recommended for beginners.", ""]


def vector(text, dims=64):
    """A deterministic unit vector standing in for an embedding computed elsewhere."""
    r = random.Random(text)
    v = [r.gauss(0.0, 1.0) for _ in range(dims)]
    n = math.sqrt(sum(x * x for x in v))
    return [round(x / n, 6) for x in v]


rows = [{
    "item_id": 901,
    "review_text": "Good Quality Dog Food,I have bought several of the Vitality canned dog food products and have "
                   "found them all to be of good quality. The product looks more like a stew than a processed meat "
                   "and it smells better. My Labrador is finicky and she appreciates this product better than most.",
    "price": 24.99,
}]
for i in range(1, 300):
    short, name = rng.choice(products)
    text = f"{rng.choice(openers)} {short}. {rng.choice(bodies)} The {name} {rng.choice(bodies).lower()} {rng.choice(closers)}".strip()
    rows.append({"item_id": 901 + i, "review_text": text, "price": round(rng.lognormvariate(3.2, 0.9), 2)})
for row in rows:
    row["ds"] = "20250509"
    row["review_text_embedding"] = vector(row["review_text"])
    print(json.dumps(row, ensure_ascii=False))
