#!/usr/bin/env python3
"""Writes a monorepo-like tree for bench/secrets/run: FILES text files whose sizes
follow a log-normal law with a mean of about 4 KiB (median about 2.5 KiB, capped at
256 KiB), in packages of 1,000 files, with 2 % binary files, a .gitignore'd
node_modules/ and target/ (5 % more files, not to be scanned), and a handful of planted
secrets: one of each built-in format and five values of the deployment's configuration
(switchboard.toml beside the tree). The expected number of findings is printed on
stdout. Deterministic for a given seed. Secret-shaped strings are assembled at run time
(the scanner runs on this file too).

Usage: gen_tree.py ROOT [FILES (default 100000)] [SEED (default 1)]
"""
import base64
import math
import os
import random
import sys

root = sys.argv[1]
files = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
tree = os.path.join(root, "tree")

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
WORDS = ("let mut const fn return match impl struct self async await def class import from "
         "if else for while in and or not None true false config token key secret value "
         "request response client server handler error result option vec string map "
         "user account session cache retry timeout deliver webhook event store query").split()


def draw(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64(n):
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode()


def line():
    indent = " " * (4 * rng.randint(0, 3))
    n = rng.randint(3, 14)
    return indent + " ".join(rng.choice(WORDS) for _ in range(n))


# A pool of lines; a few carry a rule's keyword without a secret, so that rules run
# their regex on a realistic share of files.
POOL = [line() for _ in range(4000)]
POOL += [
    'let prefix = "sb_"; // API keys start with it',
    "# tokens look like ghp_ followed by 36 characters",
    "header = 'eyJhbGciOi' # truncated in the docs",
    "-----BEGIN PUBLIC KEY-----",
    "stripe: use sk_test_ keys in development",
    "master_key = \"env:SWITCHBOARD_MASTER_KEY\"",
    "aws_secret_access_key = env:AWS_SECRET",
] * 3


def text(size):
    out, n = [], 0
    while n < size:
        s = rng.choice(POOL)
        out.append(s)
        n += len(s) + 1
    return ("\n".join(out) + "\n")[:size]


def size():
    # Log-normal, sigma 1: mean exp(mu + 0.5) = 4 KiB.
    return max(64, min(256 * 1024, int(rng.lognormvariate(math.log(4096) - 0.5, 1.0))))


EXTS = ["rs", "py", "ts", "js", "go", "md", "json", "yaml", "toml", "txt"]
total = 0
paths = []
for i in range(files):
    d = os.path.join(tree, f"pkg{i // 1000:03d}", "src", f"mod{(i // 100) % 10}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"f{i:06d}.{rng.choice(EXTS)}")
    if i % 50 == 7:
        data = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(rng.getrandbits(8) for _ in range(2048))
        with open(p, "wb") as f:
            f.write(data)
    else:
        data = text(size())
        with open(p, "w") as f:
            f.write(data)
        paths.append(p)
    total += len(data)

# Ignored: dependencies and build output.
with open(os.path.join(tree, ".gitignore"), "w") as f:
    f.write("node_modules/\ntarget/\n")
for i in range(files // 20):
    d = os.path.join(tree, "node_modules" if i % 2 else "target", f"dep{i // 100:03d}")
    if i % 100 == 0 or i % 100 == 1:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"m{i:06d}.js"), "w") as f:
        f.write(text(size()))

# Planted secrets, each appended to a distinct file.
planted = [
    "sb_" + draw("abcdefghijklmnopqrstuvwxyz0123456789", 12) + "_" + draw(ALNUM, 40),
    "master_key = \"" + b64(32) + "\"",
    "gh" + "p_" + draw(ALNUM, 36),
    "github" + "_pat_" + draw(ALNUM, 22) + "_" + draw(ALNUM, 59),
    "xo" + "xb-" + draw("0123456789", 11) + "-" + draw("0123456789", 12) + "-" + draw(ALNUM, 24),
    "sk_" + "live_" + draw(ALNUM, 24),
    "wh" + "sec_" + b64(32),
    "AI" + "za" + draw(ALNUM + "-_", 35),
    "AK" + "IA" + draw("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    "-----BEGIN " + "PRIVATE KEY-----\n" + b64(48) + "\n-----END PRIVATE KEY-----",
    ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in (
        b'{"alg":"HS256","typ":"JWT"}', b'{"sub":"u1"}', bytes(rng.getrandbits(8) for _ in range(32)))),
]
configured = {
    "client": draw(ALNUM, 40),
    "hook": draw(ALNUM, 32),
    "hook2": draw(ALNUM, 32),
    "dest": "wh" + "sec_" + b64(24),
    "master": b64(32),
}
planted += list(configured.values())
for s, p in zip(planted, rng.sample(paths, len(planted))):
    with open(p, "a") as f:
        f.write("\n" + s + "\n")

with open(os.path.join(root, "switchboard.toml"), "w") as f:
    f.write(f"""master_key = "{configured['master']}"

[[integrations]]
id = "github-main"
provider = "github"
client_id = "Iv1.bench"
client_secret = "{configured['client']}"
webhook_secrets = ["{configured['hook']}", "{configured['hook2']}"]

[[destinations]]
id = "app"
url = "https://app.example/hooks"
secret = "{configured['dest']}"
""")

print(len(planted))
print(f"wrote {files} files ({total / 1e6:.0f} MB) and {files // 20} ignored ones under {tree}", file=sys.stderr)
