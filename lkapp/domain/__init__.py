"""Pure domain logic: plain values and Decimal in, plain values out. No Flask, no database."""
