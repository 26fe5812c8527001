"""Reading tickets in English, German, Spanish, French and Portuguese: language,
intent, sentiment, risk categories and injection attempts, by rules any person
can read (lexicon.yaml)."""
