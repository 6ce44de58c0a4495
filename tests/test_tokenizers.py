"""Language-aware tokenisation (textzoo.data.tokenizers): each tokenizer on English, French, Russian
and Chinese, auto's choice on the real corpora, and English cleaning unchanged byte for byte."""

from __future__ import annotations

import hashlib

import pytest

import textzoo
from textzoo.data import tokenizers
from textzoo.data.cleaning import clean_documents, clean_str_reference, read_corpus_lines
from textzoo.errors import ConfigError
from textzoo.models.textgcn import TextGCN
from textzoo.xmc.tfidf import fit_tfidf, tfidf_from_state, tfidf_state

SAMPLES = {
    "en": "Don't stop (now)? Oil prices rose 5%!",
    "fr": "Le café était très bon, à l'été dernier.",
    "ru": "Мама мыла раму. Ёжик в тумане!",
    "zh": "这本书很好，我很喜欢！１２月３１日 Hello",
}

EXPECTED = {
    "english": {
        "en": ["do", "n't", "stop", "\\(", "now", "\\)", "\\?", "oil", "prices", "rose", "5", "!"],
        "fr": ["le", "caf", "tait", "tr", "s", "bon", ",", "l'", "t", "dernier"],
        "ru": ["!"],  # Cyrillic is dropped: what TextGCN did to Russian
        "zh": ["hello"],
    },
    "unicode": {
        "en": ["don", "t", "stop", "now", "oil", "prices", "rose", "5"],
        "fr": ["le", "café", "était", "très", "bon", "à", "l", "été", "dernier"],
        "ru": ["мама", "мыла", "раму", "ёжик", "в", "тумане"],
        "zh": ["这本书很好", "我很喜欢", "12月31日", "hello"],
    },
    "jieba": {
        "en": ["don", "t", "stop", "now", "oil", "prices", "rose", "5"],
        "fr": ["le", "café", "était", "très", "bon", "à", "l", "été", "dernier"],
        "ru": ["мама", "мыла", "раму", "ёжик", "в", "тумане"],
        "zh": ["这", "本书", "很", "好", "我", "很", "喜欢", "12", "月", "31", "日", "hello"],
    },
    "char": {
        "en": ["don", "t", "stop", "now", "oil", "prices", "rose", "5"],
        "fr": ["le", "café", "était", "très", "bon", "à", "l", "été", "dernier"],
        "ru": ["мама", "мыла", "раму", "ёжик", "в", "тумане"],
        "zh": ["这", "本", "书", "很", "好", "我", "很", "喜", "欢", "12", "月", "31", "日", "hello"],
    },
    "bigram": {  # CJK pairs within each run; 月 and 日 stand alone between digits
        "en": ["don", "t", "stop", "now", "oil", "prices", "rose", "5"],
        "fr": ["le", "café", "était", "très", "bon", "à", "l", "été", "dernier"],
        "ru": ["мама", "мыла", "раму", "ёжик", "в", "тумане"],
        "zh": ["这本", "本书", "书很", "很好", "我很", "很喜", "喜欢", "12", "月", "31", "日", "hello"],
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tokenizer_on_four_languages(name):
    got = dict(zip(SAMPLES, tokenizers.tokenize(list(SAMPLES.values()), name)))
    assert got == EXPECTED[name]


def test_auto_picks_english_for_ascii_jieba_for_chinese_unicode_otherwise(data_dir):
    assert tokenizers.detect([SAMPLES["en"]]) == "english"
    assert tokenizers.detect([SAMPLES["fr"] * 3]) == "unicode"
    assert tokenizers.detect([SAMPLES["ru"]]) == "unicode"
    assert tokenizers.detect([SAMPLES["zh"]]) == "jieba"
    for name in ("R8", "R52", "mr", "20ng"):  # the papers' corpora keep TextGCN's clean_str
        assert tokenizers.detect(read_corpus_lines(data_dir / "textgcn" / "corpus" / f"{name}.txt")) == "english"
    zh = textzoo.load_dataset("zh-reviews", data_dir=data_dir, valid_fraction=0)
    assert tokenizers.detect(zh.train.texts) == "jieba"
    assert tokenizers.resolve("auto", [SAMPLES["en"]], english="whitespace") == "whitespace"
    assert tokenizers.resolve("char", [SAMPLES["en"]]) == "char"


#: sha256 of "\n".join(clean_documents(first 1,000 R8 documents)), computed before tokenizers existed
R8_CLEANED_SHA256 = "9d2db2d2e4e95a14a57d502e9b2d4d2801e271ed4bd5c94e1f6b9e4693da33b3"


def test_english_cleaning_of_r8_is_byte_for_byte_unchanged(data_dir):
    docs = read_corpus_lines(data_dir / "textgcn" / "corpus" / "R8.txt")[:1000]
    model = TextGCN()
    model.config.tokenizer = tokenizers.resolve("auto", docs)
    assert model.config.tokenizer == "english"
    cleaned = model._clean(docs)
    assert cleaned == clean_documents(docs)
    assert hashlib.sha256("\n".join(cleaned).encode()).hexdigest() == R8_CLEANED_SHA256
    assert tokenizers.tokenize(docs[:200], "english") == [clean_str_reference(d).split() for d in docs[:200]]


def test_stop_words_per_tokenizer_and_from_a_file(tmp_path):
    assert "the" in tokenizers.stop_words("english") and "的" in tokenizers.stop_words("jieba")
    assert tokenizers.stop_words("unicode") == frozenset() == tokenizers.stop_words("char") == \
        tokenizers.stop_words("bigram")
    path = tmp_path / "stop.txt"
    path.write_text("très\nbon\n", encoding="utf-8")
    assert tokenizers.clean_documents([SAMPLES["fr"]] * 2, "unicode", True, 1, str(path)) == \
        ["le café était à l été dernier"] * 2
    assert tokenizers.clean_documents(["我 的 书", "我 的 书"], "jieba", True, 1) == ["书", "书"]
    assert tokenizers.clean_new_documents(["我的书和笔"], {"书", "笔", "的"}, "jieba") == ["书 笔"]
    with pytest.raises(ConfigError, match="stop_words file"):
        tokenizers.stop_words("unicode", str(tmp_path / "missing.txt"))


def test_xmc_tfidf_on_chinese_words_saves_its_tokenizer():
    texts = ["我很喜欢这本书", "这本书很好看", "我不喜欢这个手机", "这个手机很差"] * 3
    vec, x = fit_tfidf(texts, tokenizer="auto", min_df=1)
    assert vec.textzoo_settings["tokenizer"] == "jieba" and "喜欢" in vec.vocabulary_
    again = tfidf_from_state(*tfidf_state(vec))
    assert (again.transform(texts) != x).nnz == 0
    english, _ = fit_tfidf(["oil prices rose", "oil prices fell"], tokenizer="auto", min_df=1)
    assert english.textzoo_settings["tokenizer"] == "default"


def test_textgcn_on_chinese_records_auto_choice_and_predicts_new_text(data_dir, tmp_path):
    corpus = textzoo.load_dataset("zh-reviews", data_dir=data_dir, valid_fraction=0)
    train = corpus.train.subset(range(0, 13934, 35))  # every 35th: both labels
    model = textzoo.create("textgcn", min_count=2, epochs=30, hidden=32)
    model.fit(train.subset(range(0, len(train), 2)), valid=train.subset(range(1, len(train), 2)),
              unlabelled=corpus.test.texts[:100])
    assert model.config.tokenizer == "jieba"
    model.save(tmp_path / "run")
    loaded = textzoo.load(tmp_path / "run")
    assert loaded.config.tokenizer == "jieba"
    new = ["质量很好，非常喜欢", "太差了，再也不买了"]
    assert (loaded.predict_proba(new) == model.predict_proba(new)).all()
    with pytest.raises(ConfigError, match="no words \\(tokenizer=jieba\\).*pick another tokenizer"):
        textzoo.create("textgcn", min_count=10_000, epochs=1).fit(train)
