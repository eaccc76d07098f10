"""Payments tab of a contract: payment history, what each payment paid, balance and debt."""
