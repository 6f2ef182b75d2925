"""The connection doctor, server side: how far each console got, and what probably stopped it."""
