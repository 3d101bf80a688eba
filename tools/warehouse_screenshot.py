"""Re-make docs/warehouse.png: the Warehouse window over a real PostgreSQL with two stations.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tools/warehouse_screenshot.py

Starts a private cluster (tests/store/pg.py), initialises the store, enrols two stations, logs
and pushes a day's intake at each (one unit with a swapped hashboard between them), leaves a
few of this station's records waiting, then grabs the window as a manager would see it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from attest.evidence import Claim  # noqa: E402
from attest.log.append import log_batch  # noqa: E402
from attest.log.sqlite import SqliteStore  # noqa: E402
from attest.station import init_station, load_signer  # noqa: E402
from attest.store.connection import parse_target, without_login  # noqa: E402
from attest.store.enroll import enroll_station  # noqa: E402
from attest.store.push import push_pending  # noqa: E402
from attest.store.schema import init_store  # noqa: E402
from gui.jobs import JobRunner  # noqa: E402
from gui.theme import apply_theme  # noqa: E402
from gui.views.warehouse import WarehouseWindow  # noqa: E402
from tests.log.synthetic import synthetic_appraisal  # noqa: E402
from tests.store.pg import PrivateCluster  # noqa: E402


def station(home: Path, name: str, url: str):  # noqa: ANN201
    os.environ["ATTEST_HOME"] = str(home)
    init_station(b"screenshot", name)
    signer = load_signer(b"screenshot")
    enroll_station(parse_target(url), signer.identity)
    return signer


def swapped(n: int):  # noqa: ANN201
    """Rig n again, with hashboard 1 replaced since its first check."""
    a = synthetic_appraisal(n)
    claims = tuple(Claim(c.name, "HB-9931077-1", c.source, c.assurance) if c.name == "hashboard.1.serial" else c
                   for c in a.evidence.claims)
    return replace(a, evidence=replace(a.evidence, claims=claims))


def main() -> int:
    cluster = PrivateCluster()
    cluster.start()
    tmp = Path(tempfile.mkdtemp(prefix="warehouse-shot-"))
    try:
        url = cluster.create_database("warehouse")
        init_store(parse_target(url))
        morning = datetime.now(UTC).replace(hour=8, minute=5, second=0, microsecond=0)
        homes = {name: tmp / name for name in ("intake-bench-1", "intake-bench-2")}
        signers = {name: station(home, name, url) for name, home in homes.items()}
        batches = {"intake-bench-2": [range(0, 30), range(30, 52)], "intake-bench-1": [range(200, 236)]}
        for name, ranges in batches.items():
            os.environ["ATTEST_HOME"] = str(homes[name])
            log = homes[name] / "log.sqlite"
            with SqliteStore(log) as store:
                for i, numbers in enumerate(ranges):
                    log_batch(store, signers[name], [synthetic_appraisal(n) for n in numbers], operator="A. Technician",
                              now=morning + timedelta(hours=i + (2 if name == "intake-bench-1" else 0)))
                if name == "intake-bench-1":  # rig 10 came back from bench 2 with another hashboard
                    log_batch(store, signers[name], [swapped(10)], operator="A. Technician",
                              now=morning + timedelta(hours=3))
            from attest.store.connection import resolve_target

            push_pending(log, resolve_target(without_login(parse_target(url)).url()))
        os.environ["ATTEST_HOME"] = str(homes["intake-bench-1"])
        with SqliteStore(homes["intake-bench-1"] / "log.sqlite") as store:  # checked since the last push
            log_batch(store, signers["intake-bench-1"], [synthetic_appraisal(n) for n in range(236, 240)],
                      operator="A. Technician")
        app = QApplication([])
        apply_theme(app, "light")
        jobs = JobRunner()
        station_url = without_login(parse_target(url)).url()
        window = WarehouseWindow(jobs, lambda: (station_url, homes["intake-bench-1"] / "log.sqlite",
                                                "intake-bench-1"))
        window.resize(1240, 760)
        window.show()
        loop = QEventLoop()
        window.loaded.connect(lambda _v: QTimer.singleShot(500, loop.quit))
        QTimer.singleShot(60_000, loop.quit)
        window.reload()
        loop.exec()
        out = ROOT / "docs" / "warehouse.png"
        window.grab().save(str(out))
        print(f"wrote {out}")
        window.close()
        jobs.shutdown()
        return 0
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
