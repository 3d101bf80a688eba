"""A station appending synthetic rigs in batches, for the SIGKILL test (run as a subprocess).

    python -m tests.log.append_worker LOG FIRST_BATCH LAST_BATCH BATCH_SIZE

Batch b holds rigs b*BATCH_SIZE .. (b+1)*BATCH_SIZE-1, so the test knows exactly what every
committed record must say. Prints "committed <tree size>" after each batch's commit.
"""

from __future__ import annotations

import os
import sys

from attest.log.append import log_batch
from attest.log.store import open_store
from attest.station import load_signer
from tests.log.synthetic import T0, synthetic_appraisal


def main() -> int:
    log, first, last, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    signer = load_signer(os.environ["ATTEST_PASSPHRASE"].encode())
    store = open_store(log)
    for b in range(first, last):
        appraisals = [synthetic_appraisal(b * size + i) for i in range(size)]
        checkpoint = log_batch(store, signer, appraisals, operator="night-shift", batch_id=f"batch-{b:03d}", now=T0)
        print(f"committed {checkpoint.tree_size}", flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
