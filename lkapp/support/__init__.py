"""The "Ask a question" service: customers ask (signed in or not), the office answers."""
