"""A plainly written reference for TextGCN's graph, following ``build_graph.py`` of
yao8839836/text_gcn loop for loop (windows list, dict counts ``word_window_freq``,
``word_pair_count``, ``doc_word_freq``, ``word_doc_freq``), used to check the vectorised
:mod:`textzoo.graphs.textgcn`.

Differences from the original, none of which changes a weight: the vocabulary is sorted (the
original uses ``list(set)``, whose order varies between runs), documents keep their given order
(no shuffling), and the result is returned as the two blocks ``doc_word`` (n_docs x V) and
``word_word`` (V x V) instead of one adjacency with train docs, words, test docs.
"""

from __future__ import annotations

from math import log

import numpy as np
import scipy.sparse as sp


def reference_textgcn_graph(docs: list[str], window_size: int = 20) -> dict:
    """Returns a dict: vocabulary, doc_word, word_word (csr, float64), idf (per word),
    word_window_freq (per word, in vocabulary order), num_windows."""
    # build vocab
    word_set = set()
    for doc_words in docs:
        for word in doc_words.split():
            word_set.add(word)
    vocab = sorted(word_set)
    vocab_size = len(vocab)
    word_id_map = {}
    for i in range(vocab_size):
        word_id_map[vocab[i]] = i

    word_doc_list = {}
    for i in range(len(docs)):
        words = docs[i].split()
        appeared = set()
        for word in words:
            if word in appeared:
                continue
            if word in word_doc_list:
                word_doc_list[word].append(i)
            else:
                word_doc_list[word] = [i]
            appeared.add(word)
    word_doc_freq = {}
    for word, doc_list in word_doc_list.items():
        word_doc_freq[word] = len(doc_list)

    # word co-occurrence with context windows
    windows = []
    for doc_words in docs:
        words = doc_words.split()
        length = len(words)
        if length <= window_size:
            windows.append(words)
        else:
            for j in range(length - window_size + 1):
                windows.append(words[j: j + window_size])

    word_window_freq = {}
    for window in windows:
        appeared = set()
        for i in range(len(window)):
            if window[i] in appeared:
                continue
            if window[i] in word_window_freq:
                word_window_freq[window[i]] += 1
            else:
                word_window_freq[window[i]] = 1
            appeared.add(window[i])

    word_pair_count = {}
    for window in windows:
        for i in range(1, len(window)):
            for j in range(0, i):
                word_i_id = word_id_map[window[i]]
                word_j_id = word_id_map[window[j]]
                if word_i_id == word_j_id:
                    continue
                word_pair_str = str(word_i_id) + "," + str(word_j_id)
                if word_pair_str in word_pair_count:
                    word_pair_count[word_pair_str] += 1
                else:
                    word_pair_count[word_pair_str] = 1
                # two orders
                word_pair_str = str(word_j_id) + "," + str(word_i_id)
                if word_pair_str in word_pair_count:
                    word_pair_count[word_pair_str] += 1
                else:
                    word_pair_count[word_pair_str] = 1

    row, col, weight = [], [], []
    num_window = len(windows)
    for key in word_pair_count:
        temp = key.split(",")
        i = int(temp[0])
        j = int(temp[1])
        count = word_pair_count[key]
        word_freq_i = word_window_freq[vocab[i]]
        word_freq_j = word_window_freq[vocab[j]]
        pmi = log((1.0 * count / num_window) /
                  (1.0 * word_freq_i * word_freq_j / (num_window * num_window)))
        if pmi <= 0:
            continue
        row.append(i)
        col.append(j)
        weight.append(pmi)
    word_word = sp.csr_matrix((weight, (row, col)), shape=(vocab_size, vocab_size),
                              dtype=np.float64)

    # doc word frequency
    doc_word_freq = {}
    for doc_id in range(len(docs)):
        for word in docs[doc_id].split():
            word_id = word_id_map[word]
            doc_word_str = str(doc_id) + "," + str(word_id)
            if doc_word_str in doc_word_freq:
                doc_word_freq[doc_word_str] += 1
            else:
                doc_word_freq[doc_word_str] = 1

    row, col, weight = [], [], []
    for i in range(len(docs)):
        doc_word_set = set()
        for word in docs[i].split():
            if word in doc_word_set:
                continue
            j = word_id_map[word]
            freq = doc_word_freq[str(i) + "," + str(j)]
            idf = log(1.0 * len(docs) / word_doc_freq[vocab[j]])
            row.append(i)
            col.append(j)
            weight.append(freq * idf)
            doc_word_set.add(word)
    doc_word = sp.csr_matrix((weight, (row, col)), shape=(len(docs), vocab_size),
                             dtype=np.float64)

    return {
        "vocabulary": vocab,
        "doc_word": doc_word,
        "word_word": word_word,
        "idf": np.array([log(1.0 * len(docs) / word_doc_freq[w]) for w in vocab]),
        "word_window_freq": np.array([word_window_freq[w] for w in vocab], dtype=np.int64),
        "num_windows": num_window,
    }
