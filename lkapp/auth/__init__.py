"""Accounts: registration, sign-in with an optional second factor, recovery, profile, notices.

views.py (the way in), profile.py (the signed-in account's pages), captcha_views.py (pictures
and audio), notices.py (a notice's link that turns its kind off), forms.py, services.py (use
cases: add and flush), sessions.py (server-side sessions), tokens.py (signed links),
two_factor.py (TOTP and recovery codes), mails.py (the account's emails), decorators.py (access
rules). The rules on plain values are in
lkapp/domain/accounts.py and lkapp/domain/passwords.py.
"""
