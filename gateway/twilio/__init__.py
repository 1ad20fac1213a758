"""Twilio at the edge: webhook signatures, TwiML answers and the outbound REST client."""
