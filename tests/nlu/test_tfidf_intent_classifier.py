"""The intent classifier's masking: structured values become placeholders before featurising."""
from threadline.nlu.catalogue import CatalogueEntry
from threadline.nlu.tfidf_intent_classifier import CataloguePlaceholders, mask_structured


def test_order_codes_emails_and_phones_become_one_word_each():
    masked = mask_structured("order TL-48213 or #583920, mail ana.souza@gmail.com, call +55 11 98765-4321")
    assert masked.split() == ["order", "ordercode", "or", "ordercode", ",", "mail", "emailaddress",
                              ",", "call", "phonenumber"]


def test_other_numbers_become_a_number_word_but_words_with_digits_stay():
    assert mask_structured("3 units, size 42").split() == ["somenumber", "units,", "size", "somenumber"]
    assert mask_structured("pay in 10x, error 402").split() == ["pay", "in", "10x,", "error", "somenumber"]


def test_text_without_structured_values_is_unchanged():
    assert mask_structured("where is my refund") == "where is my refund"


def test_catalogue_products_and_plans_become_placeholders_in_any_case():
    catalogue = [CatalogueEntry("product", "Trailhead Backpack", ("trailhead",)),
                 CatalogueEntry("plan", "Club Plus", ("plus plan",))]
    preprocess = CataloguePlaceholders(catalogue)
    assert preprocess("Any TRAILHEAD left? or the Plus Plan").split() == \
        ["any", "productname", "left?", "or", "the", "planname"]
    assert preprocess("trailheads and plus shipping") == "trailheads and plus shipping"
