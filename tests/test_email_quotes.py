"""What agents see of a reply: the new words, not the history, the sign-off or the app footer."""

from __future__ import annotations

import pytest

from channels.email.quotes import visible_text

HISTORY = "> Your ticket T-000123 was received.\n> An agent will answer within 4 hours.\n"


def test_a_bottom_posted_reply_keeps_the_words_under_the_quote() -> None:
    text = f"Hi,\n\nOn Wed, Jun 5, 2024 at 10:12 AM Support <support@example.com> wrote:\n{HISTORY}\nThe printer works again.\n\nThanks,\nAna"
    assert visible_text(text, "Ana Lopez") == "Hi,\n\nThe printer works again."


def test_answers_between_quoted_questions_keep_their_questions() -> None:
    text = "> Which floor?\n\nThe second.\n\n> Since when?\n\nSince Monday."
    assert visible_text(text) == text


def test_a_date_first_header_block_of_a_webmail_provider_ends_the_new_text() -> None:
    text = 'Der Drucker geht wieder nicht.\n\nGesendet: Mittwoch, 05. Juni 2024 um 10:12 Uhr\nVon: "Support" <support@example.com>\nAn: anna@client.example\nBetreff: Drucker\n\nIhr Ticket wurde angelegt.'
    assert visible_text(text) == "Der Drucker geht wieder nicht."


FROM_SUPPORT = "\nFrom: Support <support@example.com>"


@pytest.mark.parametrize(
    "quote_start",
    [
        # decorated "original message" lines in other languages
        "*** Original Message ***" + FROM_SUPPORT,
        "======== Ursprüngliche Nachricht ========" + FROM_SUPPORT,
        "------------------ 原始邮件 ------------------" + FROM_SUPPORT,
        "---------- Původní e-mail ----------" + FROM_SUPPORT,
        # Nordic and Slavic attributions over two lines
        "pe 20. lokakuuta 2017 klo 17.50 John Coe\n<john@example.com> kirjoitti:",
        "Den mån 15 jan. 2025 17:03 skrev Anna Andersson <\nanna@example.com>:",
        "ср, 30 апр. 2025 г. в 15:19, John Doe <doe@example.com>:",
        "Dne po 15. led. 2025 17:03 Anna <anna@example.com>\nnapsal(a):",
    ],
)
def test_original_message_lines_and_attributions_in_other_languages_end_the_new_text(
    quote_start: str,
) -> None:
    text = f"Still broken.\n\n{quote_start}\n\nOld text"
    assert visible_text(text) == "Still broken.", quote_start


def test_sign_offs_are_cut_closing_and_name_title_dash_name_and_the_writers_own_name() -> None:
    body = "The scanner is jammed again."
    for signoff, sender in (
        ("Kind regards,\nAna Lopez\nFacility Manager | ACME GmbH\n+49 30 1234 5678", ""),
        ("Mit freundlichen Grüßen\nAnna Schulz", ""),
        ("-Ana", ""),
        ("/B", ""),
        ("— Ana", ""),
        ("Tom", "Tom Berg"),
        ("Jim P. Smith | Enrollment Manager\nXYZ Corp", "Jim Smith"),
        ("-- \nAna Lopez\nwww.acme.example", ""),
    ):
        assert visible_text(f"{body}\n\n{signoff}", sender) == body, signoff


def test_app_footers_end_the_new_text_even_with_old_text_under_them() -> None:
    text = "Still broken.\n\nGesendet von Outlook für Android<https://aka.ms/AAb9ysg>\n\nHi there!"
    assert visible_text(text) == "Still broken."
    assert visible_text("Still broken.\n\nSent from my iPhone") == "Still broken."


def test_words_that_only_look_like_sign_offs_stay() -> None:
    for text in (
        "Can you check it?\n\nThanks!",
        "The notification was sent from my iPhone app to all users.\nIt failed.",
        "Here is a fix -- this is not a signature.\n\nkthxbai",
        "I wrote to you with regards to the invoice.\n\nOn average it takes a day.",
        "Steps:\n-- first point\n-- second point",
    ):
        assert visible_text(text) == text


def test_a_forward_keeps_its_content() -> None:
    text = "See below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Mon\n\nThe original."
    assert visible_text(text) == text


def test_a_message_that_is_all_signature_is_kept_whole() -> None:
    assert visible_text("--\n202-555-1212") == "--\n202-555-1212"


def test_a_legal_notice_under_the_signature_is_cut_with_it() -> None:
    text = (
        "Please send the technician on Monday.\n\nThanks,\n___________________\nDana Reyes\n"
        "Facilities\nDirect: +1 555 0100\n___________________\n\nThis message is intended "
        "solely for the use of the intended recipient and may contain confidential information."
    )
    assert visible_text(text) == "Please send the technician on Monday."


def test_a_quote_rewrapped_without_marks_is_still_one_quote() -> None:
    text = (
        'This is a test\n\nOn Sep 21, 2016 3:18 PM, "frugal" <noreply@frugal.com> wrote:\n'
        "> Pitchfork occupy vegan pabst hammock. Wayfarers etsy pok pok, kale chips\n"
        "brooklyn four dollar toast street art 3 wolf moon.\n> VIEW ALL MESSAGES\n"
    )
    assert visible_text(text) == "This is a test"
