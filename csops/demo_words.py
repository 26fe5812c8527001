"""The demo book's words: company and people names, roles, and the text of its
tickets, notes, calls and NPS comments. Data only; csops/demo_book.py draws from it."""

from __future__ import annotations

# ---------------------------------------------------------------- word lists

NAME_PREFIXES = [
    "Blue", "North", "Bright", "Iron", "Silver", "Cedar", "Summit", "Harbor", "Granite",
    "Maple", "Copper", "Golden", "Red", "Clear", "Swift", "Oak", "Pine", "River", "Stone",
    "Sun", "Star", "True", "High", "West", "East", "Lake", "Bay", "Frost", "Wild", "Green",
    "Coral", "Amber", "Falcon", "Arrow", "Birch", "Cobalt", "Ever", "Fair", "Glen", "Hollow",
]  # fmt: skip
NAME_CORES = [
    "field", "bridge", "wave", "point", "crest", "line", "gate", "view", "works", "path",
    "light", "ridge", "spring", "brook", "forge", "leaf", "peak", "wood", "mark", "haven",
    "stack", "sail", "vale", "wind", "port",
]  # fmt: skip
NAME_SUFFIXES = [
    "Logistics", "Health", "Labs", "Foods", "Analytics", "Robotics", "Insurance", "Retail",
    "Systems", "Partners", "Energy", "Travel", "Media", "Financial", "Software", "Outfitters",
    "Telecom", "Dental", "Apparel", "Freight", "Bank", "Learning", "Security", "Hospitality",
    "Motors", "Pharma", "Realty", "Studios", "Supply", "Networks", "Clinics", "Brewing",
    "Games", "Home", "Capital", "Marine",
]  # fmt: skip
# Subsidiaries are how real books end up with near-duplicate names.
NAME_QUALIFIERS = ["Europe", "APAC", "Americas", "Group", "Holdings", "International"]

PEOPLE = {
    "en": (
        [
            "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Priya", "Arjun",
            "Chloe", "Daniel", "Grace", "Samuel", "Hannah", "Kwame", "Amara", "Wei", "Mei",
            "Hiroshi", "Yuki", "Fatima", "Omar", "Zoe", "Isaac", "Nora", "Caleb", "Leah",
            "Marcus", "Aisha", "Tom", "Rachel", "Ben", "Kate", "Jonah", "Tara",
        ],
        [
            "Smith", "Johnson", "Brown", "Patel", "Nguyen", "Kim", "Garcia", "Miller", "Davis",
            "Chen", "Okafor", "Wilson", "Anderson", "Thomas", "Moore", "Singh", "Taylor", "Lee",
            "Walker", "Hall", "Young", "Khan", "Wright", "Lopez", "Hill", "Scott", "Adams",
            "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips",
        ],
    ),
    "es": (
        ["Lucía", "Javier", "Sofía", "Mateo", "Carmen", "Diego", "Valentina", "Pablo", "Elena"],
        ["García", "Martínez", "López", "Sánchez", "Romero", "Navarro", "Torres", "Ruiz"],
    ),
    "de": (
        ["Lukas", "Anna", "Felix", "Lea", "Jonas", "Marie", "Tobias", "Katrin", "Jürgen"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann"],
    ),
    "fr": (
        ["Camille", "Hugo", "Léa", "Louis", "Chloé", "Antoine", "Manon", "Julien", "Élodie"],
        ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux"],
    ),
}  # fmt: skip

ROLE_POOLS = {
    "smb": ["Head of Support", "Admin", "Operations Manager", "Finance", "Support Agent Lead"],
    "mid_market": [
        "Head of Support", "Admin", "Finance", "Support Team Lead", "IT Manager",
        "Operations Manager",
    ],
    "enterprise": [
        "VP Operations", "Director of Support", "Admin", "Finance", "Procurement",
        "IT Security", "Support Team Lead", "Head of Digital",
    ],
}  # fmt: skip
# The economic buyer, one per account, always a decision maker.
SPONSOR_ROLES = {
    "smb": ["CEO", "CEO", "VP Operations"],
    "mid_market": ["VP Operations", "VP Customer Experience", "CEO"],
    "enterprise": ["VP Customer Experience", "Chief Customer Officer", "SVP Operations"],
}
DECISION_ROLES = {
    "CEO", "VP Operations", "VP Customer Experience", "Chief Customer Officer",
    "SVP Operations", "Finance",
}  # fmt: skip

# ---------------------------------------------------------------- text templates
# Placeholders: {first} requester first name, {company}, {seats}, {seats_plus}, {role},
# {arr}, {n}. Angry ones are what the escalation workflow is meant to catch.

TICKETS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "en": {
        "calm": [
            (
                "How do I add another admin?",
                (
                    "Hi team, we hired a new support lead and I can't find where to give her "
                    "admin rights. Could you point me to the right setting? Thanks, {first}"
                ),
            ),
            (
                "Scheduling the weekly report as CSV",
                (
                    "Is there a way to send the weekly resolutions report as a CSV to our shared "
                    "drive every Monday? Thanks, {first}"
                ),
            ),
            (
                "SSO setup with Okta",
                (
                    "We'd like to turn on SSO for our {seats} seats. Is there a setup guide, and "
                    "does our plan include it? {first}"
                ),
            ),
            (
                "API returns 502 now and then",
                (
                    "About 2% of our calls to the conversations endpoint return 502 since "
                    "Tuesday. Request ids attached. Not urgent, but we'd like to understand it. "
                    "{first}"
                ),
            ),
            (
                "Dashboard numbers don't match the export",
                (
                    "The dashboard shows {n} resolutions last week but the export has fewer rows. "
                    "Which one is right? {first}"
                ),
            ),
            (
                "Invoice shows the wrong seat count",
                (
                    "Our latest invoice charges for {seats_plus} seats but we have {seats}. Can "
                    "you correct it? {first}, {company}"
                ),
            ),
            (
                "Update our billing contact",
                "Please send future invoices to our finance team instead of me. Thanks, {first}",
            ),
            (
                "Feature request: approvals in Slack",
                (
                    "It would save us a lot of clicks if agents could approve drafts from Slack. "
                    "Is that on the roadmap? {first}"
                ),
            ),
            (
                "Zendesk integration stopped syncing tags",
                (
                    "Since the last update our Zendesk tags no longer sync. Everything else "
                    "works. Can you take a look? {first}"
                ),
            ),
        ],
        "angry": [
            (
                "This is unacceptable",
                (
                    "This is unacceptable. The agent was down most of the morning and our "
                    "customers waited for hours. We pay ${arr} a year for this. I want a call "
                    "with someone senior today. {first}, {role}"
                ),
            ),
            (
                "Considering cancelling at renewal",
                (
                    "Honestly we are considering cancelling at renewal. Resolutions dropped and "
                    "nobody followed up on our last three tickets. {first}"
                ),
            ),
            (
                "Refund for last week's outage",
                (
                    "We lost a week of automation because of your outage. We expect a refund or "
                    "a credit on the next invoice. {first}, {role}"
                ),
            ),
            (
                "Third time reporting the same bug",
                (
                    "Third time reporting the same sync bug. The ticket keeps getting closed "
                    "without a fix. This is not acceptable for a company our size. {first}"
                ),
            ),
            (
                "Escalation: agent giving wrong answers",
                (
                    "Your agent told {n} of our customers the wrong return policy this week. I "
                    "need this fixed today and an explanation of how it happened. {first}, {role}"
                ),
            ),
        ],
    },
    "es": {
        "calm": [
            (
                "¿Cómo exporto los informes?",
                (
                    "Hola, ¿cómo puedo exportar el informe semanal de resoluciones a Excel? "
                    "Gracias, {first}"
                ),
            ),
            (
                "Factura con licencias incorrectas",
                (
                    "La última factura cobra {seats_plus} licencias, pero solo tenemos {seats}. "
                    "¿Pueden corregirla? Saludos, {first}"
                ),
            ),
        ],
        "angry": [
            (
                "Esto es inaceptable",
                (
                    "Esto es inaceptable. La integración lleva dos días caída y nadie nos "
                    "responde. Necesitamos una solución hoy mismo. {first}"
                ),
            ),
        ],
    },
    "de": {
        "calm": [
            (
                "Frage zur SSO-Einrichtung",
                (
                    "Hallo, wie richten wir SSO mit Azure AD ein? Gibt es eine Anleitung? "
                    "Danke, {first}"
                ),
            ),
            (
                "Rechnung mit falscher Lizenzanzahl",
                (
                    "Die letzte Rechnung enthält {seats_plus} Lizenzen, wir haben aber nur "
                    "{seats}. Bitte korrigieren. Viele Grüße, {first}"
                ),
            ),
        ],
        "angry": [
            (
                "Das ist inakzeptabel",
                (
                    "Das ist inakzeptabel. Seit gestern funktioniert die API nicht und wir haben "
                    "keine Rückmeldung erhalten. Bitte rufen Sie mich heute an. {first}"
                ),
            ),
        ],
    },
    "fr": {
        "calm": [
            (
                "Comment ajouter un administrateur ?",
                (
                    "Bonjour, comment puis-je donner les droits d'administration à un collègue ? "
                    "Merci, {first}"
                ),
            ),
            (
                "Erreur sur la facture",
                (
                    "La dernière facture compte {seats_plus} licences alors que nous en avons "
                    "{seats}. Pouvez-vous la corriger ? Cordialement, {first}"
                ),
            ),
        ],
        "angry": [
            (
                "C'est inacceptable",
                (
                    "C'est inacceptable. Nos clients attendent depuis ce matin et l'agent ne "
                    "répond plus. Nous envisageons de résilier notre contrat. {first}"
                ),
            ),
        ],
    },
}

NOTES = {
    "healthy": [
        "QBR went well. {champion} wants to roll the agent out to billing; ~{n} more seats.",
        "{champion} shared that deflection is up and CSAT held steady. Asked for a case study.",
        "Checked in with {champion}; no open issues. Interested in the reports API.",
    ],
    "flat": [
        "Usage steady, not growing. {champion} is busy with a migration; follow up next month.",
        "Light-touch check-in with {champion}. Happy overall, no appetite for more seats yet.",
    ],
    "declining": [
        "Usage dropping since their reorg. {champion} moved teams; need a new champion.",
        "{sponsor} asked for a pricing review and mentioned a competitor pilot. Risk flagged.",
        "Escalated ticket about wrong answers; {champion} frustrated with response times.",
    ],
    "ramping": [
        "Kickoff done with {champion}. Integrations first, then agent rollout to {n} seats.",
        "Onboarding on track; {champion} completed admin training.",
    ],
}
RENEWAL_NOTE = "Renewal on {renewal}: {sponsor} wants multi-year pricing; procurement is involved."

CALLS = {
    "healthy": (
        "Quarterly business review",
        [
            ("csm", "Thanks for the time. Resolutions are up again this quarter."),
            ("customer", "Yes, the team loves it. We'd like to add the billing queue."),
            ("csm", "Great, I'll send a proposal and a rollout plan by Friday."),
        ],
    ),
    "flat": (
        "Monthly sync",
        [
            ("csm", "Anything blocking wider adoption on your side?"),
            ("customer", "Mostly bandwidth. We'll revisit after our migration."),
            ("csm", "Understood. I'll check back next month with two quick wins."),
        ],
    ),
    "declining": (
        "Escalation: usage drop",
        [
            ("csm", "We've seen active users fall over the last month. What changed?"),
            ("customer", "Honestly, the answers got worse and the team stopped trusting it."),
            ("customer", "If this isn't fixed before renewal, we'll look at alternatives."),
            ("csm", "Fair. I'll get our solutions engineer on a call this week."),
        ],
    ),
    "ramping": (
        "Onboarding kickoff",
        [
            ("csm", "Welcome aboard! Let's start with the helpdesk integration."),
            ("customer", "Sounds good. Our goal is to go live in three weeks."),
            ("csm", "Then we'll plan the admin training for next Tuesday."),
        ],
    ),
}

NPS_COMMENTS = {
    "promoter": ["Saves our team hours every week.", "Great support and easy to set up.", ""],
    "passive": ["Works fine, reporting could be better.", "Good, but pricey for what we use.", ""],
    "detractor": [
        "Answers are often wrong and support is slow.",
        "Too expensive for the value we get.",
        "Constant sync issues with our helpdesk.",
        "",
    ],
}

# What the champion of the account whose usage just fell off a cliff tells the survey.
DROPPING_NPS_COMMENT = (
    "Half the team stopped using it after the helpdesk sync broke last week. Nobody reached out."
)

# Tickets per account over 90 days (min, max) and share of angry ones, by trajectory.
TICKET_MIX = {
    "healthy": (0, 3, 0.07),
    "flat": (0, 4, 0.15),
    "declining": (2, 6, 0.5),
    "ramping": (0, 3, 0.1),
}

# Share of the day's weekday level that remains on a weekend, per feature.
WEEKEND = {
    "active_users": 0.3,
    "agent_resolutions": 0.45,
    "api_calls": 0.7,
    "integrations": 0.8,
    "reports": 0.15,
}
