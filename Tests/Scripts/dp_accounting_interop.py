"""The reference epsilons for Tests/PrivacyAccountingTests/DPAccountingInteropTests.swift: Google's
dp-accounting (PyPI) RdpAccountant with its default orders, for each line `q sigma rounds delta` on
stdin, prints `epsilon order`."""
import sys

import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant

for line in sys.stdin:
    if not line.strip():
        continue
    q, sigma, rounds, delta = line.split()
    accountant = rdp_privacy_accountant.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(float(q), dp_accounting.GaussianDpEvent(float(sigma)))
    accountant.compose(event, int(rounds))
    epsilon, order = accountant.get_epsilon_and_optimal_order(float(delta))
    print(repr(float(epsilon)), repr(float(order)))
