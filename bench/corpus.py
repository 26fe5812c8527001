"""A knowledge corpus and a question set for the retrieval benchmark, generated
deterministically (fixed seed) from the demo help centre.

Documents recombine the demo's real articles and solved tickets in the same
language: a base topic's paragraphs with a paragraph, tags and sentences of
other topics, varied titles, and the ids, plan names and version numbers real
help desks are full of (they give the index its long tail of rare terms).
Questions are the demo tickets' own, customer questions rephrased from the
articles with another ticket's context around them, and questions the help
centre has no answer to.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.importers import ArticleRecord, TicketRecord, parse_articles, parse_tickets
from csops.importing import DEMO_HELP_CENTRE

SEED = 20261121
LANGUAGES = ("en", "de", "es", "fr", "pt")
# Most tickets of a multilingual help desk are English; the rest share the remainder.
LANGUAGE_SHARE = {"en": 0.40, "de": 0.15, "es": 0.15, "fr": 0.15, "pt": 0.15}
ARTICLE_SHARE = 0.4  # the rest are solved tickets
NO_ANSWER_SHARE = 0.15  # questions the help centre cannot answer

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PLANS = ("Starter", "Business", "Enterprise")
_REGIONS = ("EU", "US", "APAC")
_PRIORITIES = ("low", "normal", "normal", "high")
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

# Words a generated document or question is written with, per language.
_SEE_ALSO = {"en": "See also", "de": "Siehe auch", "es": "Véase también",
             "fr": "Voir aussi", "pt": "Veja também"}  # fmt: skip
_HELLO = {"en": ("Hi team,", "Hello,", "Good morning,"),
          "de": ("Hallo zusammen,", "Guten Tag,", "Hallo,"),
          "es": ("Hola,", "Buenos días,", "Hola equipo,"),
          "fr": ("Bonjour,", "Bonjour à tous,", "Bonjour l'équipe,"),
          "pt": ("Olá,", "Bom dia,", "Olá, equipe,")}  # fmt: skip
_HOW = {"en": "How do I do this:", "de": "Wie geht das:", "es": "¿Cómo se hace esto?:",
        "fr": "Comment faire :", "pt": "Como faço isso:"}  # fmt: skip
_THANKS = {"en": "Thanks!", "de": "Danke!", "es": "¡Gracias!", "fr": "Merci !",
           "pt": "Obrigado!"}  # fmt: skip
# Questions the demo help centre has nothing on (subject, body), in every language.
_NO_ANSWER = {
    "en": [
        ("Paying in Bitcoin", "Our finance team would like to pay the annual subscription with cryptocurrency. Do you accept Bitcoin or Ethereum?"),
        ("Visiting your office", "We will be in Lisbon next month. Could our team visit your office and meet the product managers in person?"),
        ("Receipt printer stopped", "The thermal receipt printer at our front desk stopped printing after the last Windows update. Can you help?"),
        ("Job application", "I saw an opening for a frontend developer. Who should I send my portfolio to?"),
        ("Sponsoring our charity run", "We are organising a charity run in May. Would your company sponsor the event?"),
    ],
    "de": [
        ("Zahlung mit Bitcoin", "Unsere Buchhaltung möchte das Jahresabo mit Kryptowährung bezahlen. Akzeptieren Sie Bitcoin oder Ethereum?"),
        ("Besuch in Ihrem Büro", "Wir sind nächsten Monat in Lissabon. Könnte unser Team Ihr Büro besuchen und die Produktmanager persönlich treffen?"),
        ("Bondrucker druckt nicht", "Der Thermodrucker an unserer Rezeption druckt seit dem letzten Windows-Update nicht mehr. Können Sie helfen?"),
        ("Bewerbung", "Ich habe eine Stelle als Frontend-Entwickler gesehen. An wen schicke ich mein Portfolio?"),
        ("Sponsoring unseres Spendenlaufs", "Wir organisieren im Mai einen Spendenlauf. Würde Ihre Firma die Veranstaltung sponsern?"),
    ],
    "es": [
        ("Pago con Bitcoin", "Nuestro equipo de finanzas quiere pagar la suscripción anual con criptomonedas. ¿Aceptan Bitcoin o Ethereum?"),
        ("Visita a su oficina", "El mes que viene estaremos en Lisboa. ¿Podría nuestro equipo visitar su oficina y conocer a los responsables de producto?"),
        ("La impresora de tickets no imprime", "La impresora térmica de la recepción dejó de imprimir después de la última actualización de Windows. ¿Pueden ayudarnos?"),
        ("Solicitud de empleo", "Vi una vacante de desarrollador frontend. ¿A quién envío mi portafolio?"),
        ("Patrocinio de nuestra carrera solidaria", "Organizamos una carrera solidaria en mayo. ¿Su empresa patrocinaría el evento?"),
    ],
    "fr": [
        ("Paiement en Bitcoin", "Notre service financier souhaite payer l'abonnement annuel en cryptomonnaie. Acceptez-vous le Bitcoin ou l'Ethereum ?"),
        ("Visite de vos bureaux", "Nous serons à Lisbonne le mois prochain. Notre équipe pourrait-elle visiter vos bureaux et rencontrer les chefs de produit ?"),
        ("L'imprimante de tickets ne marche plus", "L'imprimante thermique de l'accueil n'imprime plus depuis la dernière mise à jour de Windows. Pouvez-vous nous aider ?"),
        ("Candidature", "J'ai vu une offre de développeur frontend. À qui dois-je envoyer mon portfolio ?"),
        ("Parrainage de notre course solidaire", "Nous organisons une course solidaire en mai. Votre entreprise accepterait-elle de parrainer l'événement ?"),
    ],
    "pt": [
        ("Pagamento com Bitcoin", "Nossa equipe financeira quer pagar a assinatura anual com criptomoeda. Vocês aceitam Bitcoin ou Ethereum?"),
        ("Visita ao escritório", "Estaremos em Lisboa no mês que vem. Nossa equipe poderia visitar o escritório de vocês e conhecer os gerentes de produto?"),
        ("Impressora de recibos parou", "A impressora térmica da recepção parou de imprimir depois da última atualização do Windows. Podem ajudar?"),
        ("Candidatura a vaga", "Vi uma vaga de desenvolvedor frontend. Para quem envio meu portfólio?"),
        ("Patrocínio da nossa corrida beneficente", "Estamos organizando uma corrida beneficente em maio. A empresa de vocês patrocinaria o evento?"),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    """Rows for the context database: column values of `KnowledgeArticle` and of
    `PastTicket` (all solved, with their answer)."""

    articles: list[dict[str, Any]]
    tickets: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.articles) + len(self.tickets)


@dataclass(frozen=True)
class Question:
    """A customer question as the draft step searches with it: subject and body."""

    text: str
    language: str
    kind: str  # "demo ticket", "rephrased" or "no answer"


@dataclass(frozen=True)
class _Topic:
    """One article of the demo, cut into the parts documents are recombined from."""

    article: ArticleRecord
    intro: str
    steps: str
    notes: list[str]


@dataclass(frozen=True)
class _Demo:
    """The demo help centre of one language."""

    topics: list[_Topic]
    tickets: list[TicketRecord]
    sentences: list[str]  # every sentence of its tickets' bodies: context for questions


def _demo() -> dict[str, _Demo]:
    """The demo help centre, read with the project's own parsers, by language."""
    articles = [p.record for p in parse_articles(DEMO_HELP_CENTRE / "articles") if p.record]
    tickets = [
        p.record
        for p in parse_tickets(DEMO_HELP_CENTRE / "solved_tickets.csv", "csv")
        if p.record and p.record.answer
    ]
    demo = {}
    for lang in LANGUAGES:
        topics = [_topic(a) for a in articles if a.locale == lang]
        solved = [t for t in tickets if t.language == lang]
        sentences = [s for t in solved for s in _SENTENCE_END.split(t.body) if s]
        demo[lang] = _Demo(topics, solved, sentences)
    return demo


def _topic(article: ArticleRecord) -> _Topic:
    blocks = [b.strip() for b in article.body.split("\n\n") if b.strip()]
    steps = next((b for b in blocks if b.startswith("1.")), "")
    notes = [b for b in blocks[1:] if b != steps]
    return _Topic(article, blocks[0], steps, notes)


def _split(total: int, shares: dict[str, float]) -> dict[str, int]:
    """`total` split by `shares`, the rounding remainder on the first key."""
    counts = {key: int(total * share) for key, share in shares.items()}
    first = next(iter(counts))
    counts[first] += total - sum(counts.values())
    return counts


def build_corpus(documents: int, seed: int = SEED) -> Corpus:
    """`documents` rows in all, split by `LANGUAGE_SHARE` and `ARTICLE_SHARE`."""
    rng = random.Random(seed)
    demo = _demo()
    articles: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    for lang, count in _split(documents, LANGUAGE_SHARE).items():
        n_articles = int(count * ARTICLE_SHARE)
        articles += _articles(rng, lang, demo[lang], n_articles)
        tickets += _tickets(rng, lang, demo[lang], count - n_articles, start=len(tickets))
    return Corpus(articles, tickets)


def _articles(rng: random.Random, lang: str, demo: _Demo, count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        base = demo.topics[n % len(demo.topics)]  # every topic equally often
        other = rng.choice(demo.topics)
        version = f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}"
        title = f"{base.article.title} ({rng.choice(_PLANS)}, {rng.choice(_REGIONS)}, {version})"
        notes = rng.sample(base.notes, k=min(len(base.notes), rng.randint(1, 2)))
        related = f"{_SEE_ALSO[lang]}: {other.article.title}. {other.intro}"
        body = "\n\n".join(p for p in (base.intro, base.steps, *notes, related) if p)
        slug = base.article.id.removesuffix(f"-{lang}")
        rows.append({
            "id": f"{base.article.id}-{n:06d}", "title": title, "locale": lang,
            "url": f"https://help.acme.test/{lang}/articles/{slug}-{n}",
            "tags": [*base.article.tags, rng.choice(other.article.tags)], "body": body,
            "content_hash": f"bench-{lang}-{n}",
        })  # fmt: skip
    return rows


def _tickets(
    rng: random.Random, lang: str, demo: _Demo, count: int, start: int
) -> list[dict[str, Any]]:
    """Half recombine a real solved ticket, half turn an article into the question
    it answers (so every topic has tickets, whatever the language's ticket count)."""
    rows = []
    for n in range(count):
        workspace = f"Workspace acme-{rng.randint(10_000, 99_999)}"
        context = rng.choice(demo.sentences)
        if n % 2 and demo.tickets:
            t = demo.tickets[(n // 2) % len(demo.tickets)]
            subject, tags = t.subject, list(t.tags)
            body = f"{t.body} {context}\n\n{workspace}"
            answer = t.answer or ""
        else:
            topic = demo.topics[(n // 2) % len(demo.topics)]
            subject, tags = topic.article.title, list(topic.article.tags)
            body = f"{rng.choice(_HELLO[lang])} {context} {_HOW[lang]} {subject}?\n\n{workspace}"
            answer = topic.intro
        number = start + n
        rows.append({
            "id": f"T-{lang}-{number:06d}", "subject": subject, "body": body, "answer": answer,
            "status": "solved", "priority": rng.choice(_PRIORITIES), "tags": tags,
            "language": lang, "created_at": _EPOCH + timedelta(minutes=7 * number),
            "account_id": None, "content_hash": f"bench-{lang}-t{number}",
        })  # fmt: skip
    return rows


def build_questions(count: int, seed: int = SEED) -> list[Question]:
    """`count` questions in a fixed order: the demo tickets' own (all 40 from 160
    questions up), `NO_ANSWER_SHARE` with no good answer, the rest rephrased."""
    rng = random.Random(seed + 1)
    demo = _demo()
    own = [
        Question(f"{t.subject}\n{t.body}", lang, "demo ticket")
        for lang in LANGUAGES
        for t in demo[lang].tickets
    ]
    own = rng.sample(own, k=min(len(own), count // 4))
    n_none = int(count * NO_ANSWER_SHARE)
    rest = count - len(own) - n_none
    none = list(_no_answer(rng, _split(n_none, LANGUAGE_SHARE)))
    rephrased = list(_rephrased(rng, demo, _split(rest, LANGUAGE_SHARE)))
    questions = own + none + rephrased
    rng.shuffle(questions)  # kinds and languages mixed, as they arrive
    return questions


def _no_answer(rng: random.Random, per_language: dict[str, int]) -> Iterator[Question]:
    for lang, n in per_language.items():
        for i in range(n):
            subject, body = _NO_ANSWER[lang][i % len(_NO_ANSWER[lang])]
            text = f"{subject}\n{rng.choice(_HELLO[lang])} {body} {_THANKS[lang]}"
            yield Question(text, lang, "no answer")


def _rephrased(
    rng: random.Random, demo: dict[str, _Demo], per_language: dict[str, int]
) -> Iterator[Question]:
    """An article's topic asked in a customer's words: a step they tried, another
    ticket's context sentence, and the article's title as the question."""
    for lang, n in per_language.items():
        for _ in range(n):
            topic = rng.choice(demo[lang].topics)
            tried = rng.choice(topic.steps.splitlines() or [topic.intro]).lstrip("0123456789. ")
            body = (
                f"{rng.choice(_HELLO[lang])} {rng.choice(demo[lang].sentences)} {tried} "
                f"{_HOW[lang]} {topic.article.title.lower()}? {_THANKS[lang]}"
            )
            yield Question(f"{topic.article.title}\n{body}", lang, "rephrased")
