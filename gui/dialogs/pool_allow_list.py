"""Station ▸ Pool allow-list…: the mining pools this station accepts, written into its policy.

Without an allow-list pools are not checked at all, and a rig whose pool was hijacked passes:
the window says "pools not checked" and offers this dialog. The rules go into the policy file
the station uses (created in the user's config folder when there is none), changing nothing
else in it (``attest.policy_edit``). Pools seen on the rigs already checked are listed as a
reminder, never added by themselves: a hijacked rig's pool must not whitelist itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from attest.policy import Policy, PolicyError
from attest.policy_edit import check_rule, set_pool_allow
from gui.views.reasons import plain_label

EXPLANATION = ("One rule a line: a pool host with its port (pool.example-mining.net:3333), a host with "
               "wildcards (*.braiins.com, any port) or a full pool URL (stratum+tcp://pool.example:3333). "
               "A rig configured with any other pool gets WARNING (POOL_NOT_ALLOWED).")


class PoolAllowListDialog(QDialog):
    def __init__(self, policy: Policy, policy_path: Path, seen_pools: Iterable[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.policy_path = policy_path
        self.setWindowTitle("Pool allow-list")
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        state = "Pools are not checked now: the policy has no allow-list." if policy.pool_allow is None else \
            f"{len(policy.pool_allow)} rule(s) now."
        layout.addWidget(plain_label(f"{state} {EXPLANATION}"))
        self.rules = QPlainTextEdit()
        self.rules.setPlainText("\n".join(policy.pool_allow or ()))
        self.rules.setPlaceholderText("pool.example-mining.net:3333")
        self.rules.setAccessibleName("Allowed pools")
        layout.addWidget(self.rules, 1)
        seen = sorted(set(seen_pools))
        if seen:
            layout.addWidget(plain_label("Pools configured on the rigs checked so far (not added by themselves: "
                                         "add only those that are yours):\n" + "\n".join(seen[:20])))
        layout.addWidget(plain_label(f"Saved in the station policy {policy_path}"))
        self.problem = plain_label("")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen_rules(self) -> list[str]:
        return [line.strip() for line in self.rules.toPlainText().splitlines() if line.strip()]

    def save(self) -> bool:
        rules = self.chosen_rules()
        problems = [p for r in rules if (p := check_rule(r))]
        if not rules:
            problems.append("no rule given: an empty allow-list would refuse every pool")
        if problems:
            return self._show(f"Not saved: {problems[0]}.")
        try:
            set_pool_allow(self.policy_path, rules)
        except PolicyError as e:
            return self._show(f"Not saved: {e.message}")
        self.accept()
        return True

    def _show(self, text: str) -> bool:
        self.problem.setText(text)
        self.problem.show()
        return False
