"""Meter readings: the customer's Readings tab, the office's entry and export, reminders."""
