#!/usr/bin/env python3
"""Reference values for the HRR and entity tests (test/fixtures/hrr-reference.json).

Computed independently of the TypeScript code, in plain Python (hashlib, struct, math, re), following
SPEC §9 and Hermes' holographic memory plugin. When numpy is installed the same vectors are also
computed the plugin's way (numpy arrays, np.angle, np.exp) and must agree to 1e-12.

    python3 scripts/hrr_reference.py            # rewrites the fixture
The tests only read the fixture; they never run Python.
"""

import base64
import hashlib
import json
import math
import random
import re
import struct
from pathlib import Path

DIM = 1024
TWO_PI = 2.0 * math.pi
OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "hrr-reference.json"


def atom(word, dim=DIM):
    values = []
    for i in range(math.ceil(dim / 16)):
        values.extend(struct.unpack("<16H", hashlib.sha256(f"{word}:{i}".encode()).digest()))
    scale = TWO_PI / 65536.0
    return [v * scale for v in values[:dim]]


def bind(a, b):
    return [(x + y) % TWO_PI for x, y in zip(a, b)]


def bundle(*vectors):
    out = []
    for j in range(len(vectors[0])):
        re_sum = 0.0
        im_sum = 0.0
        for v in vectors:
            re_sum += math.cos(v[j])
            im_sum += math.sin(v[j])
        out.append(math.atan2(im_sum, re_sum) % TWO_PI)
    return out


def similarity(a, b):
    return sum(math.cos(x - y) for x, y in zip(a, b)) / len(a)


def tokens(text):
    return [t for t in (tok.strip(".,!?;:\"'()[]{}") for tok in text.lower().split()) if t]


def encode_text(text, dim=DIM):
    toks = tokens(text)
    return bundle(*[atom(t, dim) for t in toks]) if toks else atom("__hrr_empty__", dim)


def encode_fact(content, entities, dim=DIM):
    role_content, role_entity = atom("__hrr_role_content__", dim), atom("__hrr_role_entity__", dim)
    return bundle(bind(encode_text(content, dim), role_content),
                  *[bind(atom(e.lower(), dim), role_entity) for e in entities])


# Hermes' entity patterns (plugins/memory/holographic/store.py)
RE_CAPITALIZED = re.compile(r'\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b')
RE_DOUBLE_QUOTE = re.compile(r'"([^"]+)"')
RE_SINGLE_QUOTE = re.compile(r"'([^']+)'")
RE_AKA = re.compile(r'(\w+(?:\s+\w+)*)\s+(?:aka|also known as)\s+(\w+(?:\s+\w+)*)', re.IGNORECASE)


def extract_entities(text):
    seen, out = set(), []

    def add(name):
        stripped = name.strip()
        if stripped and stripped.lower() not in seen:
            seen.add(stripped.lower())
            out.append(stripped)

    for m in RE_CAPITALIZED.finditer(text):
        add(m.group(1))
    for m in RE_DOUBLE_QUOTE.finditer(text):
        add(m.group(1))
    for m in RE_SINGLE_QUOTE.finditer(text):
        add(m.group(1))
    for m in RE_AKA.finditer(text):
        add(m.group(1))
        add(m.group(2))
    return out


def b64(vec):
    return base64.b64encode(struct.pack(f"<{len(vec)}d", *vec)).decode()


def numpy_check(cases):
    try:
        import numpy as np
    except ImportError:
        print("numpy not installed: skipped the cross-check against the numpy formulation")
        return
    def np_atom(word):
        vals = [v for i in range(math.ceil(DIM / 16)) for v in struct.unpack("<16H", hashlib.sha256(f"{word}:{i}".encode()).digest())]
        return np.array(vals[:DIM], dtype=np.float64) * (TWO_PI / 65536.0)
    def np_bundle(*vs):
        return np.angle(np.sum([np.exp(1j * v) for v in vs], axis=0)) % TWO_PI
    def np_text(text):
        toks = tokens(text)
        return np_bundle(*[np_atom(t) for t in toks]) if toks else np_atom("__hrr_empty__")
    def np_fact(content, ents):
        rc, re_ = np_atom("__hrr_role_content__"), np_atom("__hrr_role_entity__")
        return np_bundle((np_text(content) + rc) % TWO_PI, *[(np_atom(e.lower()) + re_) % TWO_PI for e in ents])
    worst = 0.0
    for content, ents, ours in cases:
        theirs = np_fact(content, ents)
        d = np.abs(np.asarray(ours) - theirs)
        worst = max(worst, float(np.max(np.minimum(d, TWO_PI - d))))
    print(f"numpy cross-check: max angular difference {worst:.3e}")
    assert worst < 1e-12, worst


def random_texts(n, seed=20260401):
    rng = random.Random(seed)
    parts = ["aka", "AKA", "Aka", "also known as", "also  known as", "Also Known As", "John", "Doe", "Alice Smith",
             "x", "y_z", "42", "é", "日本", "'", '"', ",", ".", "-", "\n", "\t", " ", "  ", "\u3000", "\x1c", "\u0085",
             "ſ", "\u212a", "Bob's", "café", "New York", "ab", "Z", "\u00a0", "\ufeff"]
    out = []
    for _ in range(n):
        k = rng.randint(1, 14)
        out.append("".join(rng.choice(parts) + (" " if rng.random() < 0.6 else "") for _ in range(k)))
    return out


def main():
    hello = atom("hello")
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "",
        "   !!! ... ",
        "Hello, hello HELLO (hello)",
        "Café au lait — 日本語 テキスト 😀",
    ]
    facts = [
        ("Alice Smith works at Acme Corp on \"Project Falcon\".", None),
        ("Guido van Rossum aka BDFL created Python", None),
        ("the user prefers dark mode in every editor", None),
        ("Bob also known as Robert lives in 'New York'", None),
    ]
    fact_out, np_cases = [], []
    for content, _ in facts:
        ents = extract_entities(content)
        vec = encode_fact(content, ents)
        fact_out.append({"content": content, "entities": ents, "vector_f64le_b64": b64(vec)})
        np_cases.append((content, ents, vec))
    bank = bundle(*[encode_fact(c, extract_entities(c)) for c, _ in facts])
    numpy_check(np_cases)

    entity_cases = [
        "Alice Smith met Bob Jones in New York.",
        'She said "hello world" and \'good bye\'.',
        "Bob's car and Alice's bike",
        "My friend Bob aka Robert lives here",
        "x aka y aka z",
        "Guido van Rossum also known as BDFL",
        "Ada AKA the Countess",
        "one also  known as two",
        "aka only",
        "The Project Falcon Status is green",
        "  \"  spaced  \"  ",
        "no entities here at all",
        "Ünïcödé Names Like Zoë Are Not Capitalised ASCII",
        "tab\tseparated aka\tname",
        "K\u212ay aka Kelvin",
    ] + random_texts(400)

    data = {
        "generated_by": "scripts/hrr_reference.py",
        "dim": DIM,
        "atom_hello_first8": hello[:8],
        "atoms": {w: b64(atom(w)) for w in ["hello", "__hrr_role_content__", "__hrr_role_entity__", "__hrr_empty__", "café", "日本", "😀"]},
        "atom_dim_20_hello": atom("hello", 20),
        "bind_hello_world": b64(bind(atom("hello"), atom("world"))),
        "bundle_hello_world": b64(bundle(atom("hello"), atom("world"))),
        "texts": [{"text": t, "tokens": tokens(t), "vector_f64le_b64": b64(encode_text(t))} for t in texts],
        "facts": fact_out,
        "bank_of_facts": b64(bank),
        "similarities": [
            {"a": "hello", "b": "hello", "value": similarity(atom("hello"), atom("hello"))},
            {"a": "hello", "b": "world", "value": similarity(atom("hello"), atom("world"))},
            {"a": "fact0", "b": "text:alice smith acme", "value": similarity(encode_fact(facts[0][0], extract_entities(facts[0][0])), encode_text("alice smith acme"))},
        ],
        "entities": [{"text": t, "entities": extract_entities(t), "aliases": [[m.group(1), m.group(2)] for m in RE_AKA.finditer(t)]} for t in entity_cases],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT} (atom('hello')[:4] = {hello[:4]})")


if __name__ == "__main__":
    main()
