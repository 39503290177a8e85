"""Tests for rnnt_kd.search: greedy and modified beam search against brute-force references, and
an overfit run of the tiny model whose transcripts both searches must recover exactly."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from rnnt_kd.model import Transducer, TransducerConfig
from rnnt_kd.search import decode_batch, greedy_search, modified_beam_search
from rnnt_kd.search.beam_search import beam_search_hypotheses, best_hypothesis
from rnnt_kd.search.lexicon import WordLexicon


def random_model(vocab: int, seed: int = 0) -> Transducer:
    torch.manual_seed(seed)
    cfg = TransducerConfig(
        vocab_size=vocab,
        encoder_dim=32,
        num_encoder_layers=1,
        num_heads=4,
        feedforward_dim=64,
        conv_kernel_size=5,
        decoder_dim=24,
        joiner_dim=24,
        dropout=0.0,
    )
    model = Transducer(cfg).eval()
    with torch.no_grad():  # sharper, more varied output distributions than the default init
        model.joiner.output_linear.weight.mul_(8.0)
    return model


def random_encoder_out(model: Transducer, lens, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    enc = torch.randn(len(lens), max(lens), model.config.encoder_dim, generator=g)
    return enc, torch.tensor(lens)


@torch.no_grad()
def step_log_probs(model: Transducer, enc_t: torch.Tensor, ys: tuple) -> torch.Tensor:
    """(C,) encoder frame, full token history (with context prefix) -> (V,) log-probs."""
    ctx = model.decoder.context_size
    dec = model.decoder(torch.tensor([list(ys[-ctx:])]), need_pad=False)[0, 0]
    return model.joiner(enc_t, dec).log_softmax(-1)


def greedy_reference(model, enc, length, max_sym_per_frame):
    """Unbatched greedy search, straight from the definition."""
    ys = (model.blank_id,) * model.decoder.context_size
    for t in range(length):
        for _ in range(max_sym_per_frame):
            v = int(step_log_probs(model, enc[t], ys).argmax())
            if v == model.blank_id:
                break
            ys = ys + (v,)
    return list(ys[model.decoder.context_size :])


def exhaustive_sequences(model, enc, length):
    """Total log-prob of every token sequence, summed over all one-symbol-per-frame alignments
    (what modified beam search keeps when nothing is pruned)."""
    blank, vocab = model.blank_id, model.vocab_size
    prefix = (blank,) * model.decoder.context_size
    totals = defaultdict(lambda: -math.inf)
    for path in itertools.product(range(vocab), repeat=length):
        ys, lp = prefix, 0.0
        for t, v in enumerate(path):
            lp += float(step_log_probs(model, enc[t], ys)[v])
            if v != blank:
                ys = ys + (v,)
        key = ys[len(prefix) :]
        totals[key] = float(torch.logaddexp(torch.tensor(totals[key]), torch.tensor(lp)))
    return dict(totals)


@pytest.mark.parametrize("max_sym", [1, 3])
def test_greedy_matches_unbatched_reference(max_sym):
    model = random_model(vocab=7)
    enc, lens = random_encoder_out(model, [9, 4, 12, 1, 7])
    hyps = greedy_search(model, enc, lens, max_sym_per_frame=max_sym)
    refs = [greedy_reference(model, enc[i], int(n), max_sym) for i, n in enumerate(lens)]
    assert hyps == refs
    assert sum(len(h) for h in hyps) > 5  # the test is not vacuous
    if max_sym == 3:
        assert any(len(h) > n for h, n in zip(hyps, lens.tolist()))  # >1 symbol on a frame


def test_modified_beam_search_is_exact_without_pruning():
    model = random_model(vocab=3, seed=1)
    enc, lens = random_encoder_out(model, [4, 3, 4, 2], seed=1)
    beams = beam_search_hypotheses(model, enc, lens, beam=200)  # 3^4 alignments: none pruned
    for i, n in enumerate(lens.tolist()):
        ref = exhaustive_sequences(model, enc[i], n)
        assert sorted(beams[i]) == sorted(ref)
        for key, lp in ref.items():
            assert abs(beams[i][key] - lp) < 1e-4, (key, beams[i][key], lp)
        # log-probs of all sequences sum to 1
        assert abs(float(torch.logsumexp(torch.tensor(list(ref.values())), 0))) < 1e-4
    hyps = modified_beam_search(model, enc, lens, beam=200)
    assert hyps == [best_hypothesis(b, context_size=2) for b in beams]


def test_best_hypothesis_length_normalisation():
    # context_size 2: () -> -3/2 = -1.5, (5,) -> -4/3 = -1.33, (5, 6) -> -6/4 = -1.5
    hyps = {(): -3.0, (5,): -4.0, (5, 6): -6.0}
    assert best_hypothesis(hyps, context_size=2) == [5]
    # context_size 1: () -> -3, (5,) -> -2, (5, 6) -> -2 + 1e-9 wins
    hyps = {(): -3.0, (5,): -4.0, (5, 6): -6.0 + 3e-9}
    assert best_hypothesis(hyps, context_size=1) == [5, 6]


def test_beam_one_is_greedy_and_batching_is_transparent():
    model = random_model(vocab=9, seed=2)
    enc, lens = random_encoder_out(model, [15, 6, 11, 15, 2, 9], seed=2)
    greedy = greedy_search(model, enc, lens)
    assert modified_beam_search(model, enc, lens, beam=1) == greedy
    batched = modified_beam_search(model, enc, lens, beam=4)
    single = [
        modified_beam_search(model, enc[i : i + 1, :n], lens[i : i + 1], beam=4)[0]
        for i, n in enumerate(lens.tolist())
    ]
    assert batched == single
    assert batched != greedy  # with a random model the beam finds other answers somewhere


def test_overfit_tiny_model_then_decode_exactly():
    """Tiny preset, 4 synthetic utterances: the loss falls by a large factor, then greedy and
    modified beam search return the training transcripts exactly."""
    torch.manual_seed(0)
    vocab = 20
    model = Transducer(TransducerConfig.from_preset("tiny", vocab, dropout=0.0))
    g = torch.Generator().manual_seed(0)
    lens = [80, 64, 52, 40]
    num_tokens = [7, 5, 6, 3]
    features = torch.randn(len(lens), max(lens), 80, generator=g)
    feature_lens = torch.tensor(lens)
    targets = torch.zeros(len(lens), max(num_tokens), dtype=torch.int64)
    for i, n in enumerate(num_tokens):
        targets[i, :n] = torch.randint(1, vocab, (n,), generator=g)
    target_lens = torch.tensor(num_tokens)
    transcripts = [targets[i, :n].tolist() for i, n in enumerate(num_tokens)]

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    first = None
    for _ in range(150):
        out = model(features, feature_lens, targets, target_lens, prune_range=5)
        loss = 0.5 * out.simple_loss + out.pruned_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if first is None:
            first = out.pruned_loss.item()
        last = out.pruned_loss.item()
    assert last < first / 100, (first, last)

    model.eval()
    assert decode_batch(model, features, feature_lens, "greedy_search") == transcripts
    assert decode_batch(model, features, feature_lens, "modified_beam_search", 4) == transcripts
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode_batch(model, features, feature_lens, "fast_beam_search")


@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
def test_decode_batch_with_too_short_utterances(method):
    model = random_model(vocab=9, seed=3)
    features = torch.randn(3, 40, 80, generator=torch.Generator().manual_seed(3))
    lens = torch.tensor([40, 5, 8])  # 5 and 8 frames give 0 encoder frames
    hyps = decode_batch(model, features, lens, method=method, beam=3)
    assert hyps[1] == [] and hyps[2] == []
    assert hyps[0] == decode_batch(model, features[:1], lens[:1], method=method, beam=3)[0]
    assert torch.isfinite(model.encode(features, lens)[0]).all()


# --- closed-vocabulary constraint (WordLexicon) ---

TOY_PIECES = ["<blk>", "<unk>", "\u2581A", "B", "\u2581AB", "C", "\u2581C", "\u2581"]


def allowed_pieces(lex: WordLexicon, state) -> set:
    return {TOY_PIECES[i] for i, ok in enumerate(lex.allowed(state).tolist()) if ok}


def test_word_lexicon_masks_by_hand():
    lex = WordLexicon(TOY_PIECES, ["AB", "C", "ABC"], blank_id=0)
    # before any word: every word-start piece whose text begins a word ("" begins all)
    assert allowed_pieces(lex, None) == {"<blk>", "\u2581A", "\u2581AB", "\u2581C", "\u2581"}
    # "A" is no word: only the continuation to "AB" (and blank)
    assert allowed_pieces(lex, "A") == {"<blk>", "B"}
    # "AB" is a word and a prefix of "ABC": a new word or "C"
    assert allowed_pieces(lex, "AB") == {"<blk>", "\u2581A", "\u2581AB", "\u2581C", "\u2581", "C"}
    assert allowed_pieces(lex, "ABC") == {"<blk>", "\u2581A", "\u2581AB", "\u2581C", "\u2581"}
    # states from token sequences (ids into TOY_PIECES); any segmentation of a word counts
    assert lex.state([]) is None
    assert lex.state([2, 3]) == "AB" and lex.state([4]) == "AB"
    assert lex.state([2, 3, 6]) == "C" and lex.state([7, 2, 3, 5]) == "ABC"
    assert lex.is_final(None) and lex.is_final("AB") and not lex.is_final("A")
    with pytest.raises(ValueError, match="at least one word"):
        WordLexicon(TOY_PIECES, [], blank_id=0)


def test_best_hypothesis_drops_an_unfinished_last_word():
    lex = WordLexicon(TOY_PIECES, ["AB", "C", "ABC"], blank_id=0)
    assert lex.complete_words([4, 6]) == [4, 6]  # "AB C": complete
    assert lex.complete_words([4, 2]) == [4]  # "AB A": "A" unfinished
    assert lex.complete_words([2]) == []
    # a complete hypothesis wins over a better-scored unfinished one
    hyps = {(4, 2): -1.0, (4,): -5.0}
    assert best_hypothesis(hyps, context_size=2, lexicon=lex) == [4]
    # none complete: the best one, cut back to its complete words (never an unlisted word)
    hyps = {(4, 6, 2): -1.0, (2,): -3.0}
    assert best_hypothesis(hyps, context_size=2, lexicon=lex) == [4, 6]
    assert best_hypothesis({(2,): -1.0}, context_size=2, lexicon=lex) == []


def lexicon_valid(lex: WordLexicon, tokens) -> bool:
    """Every token allowed after its prefix, and the last word complete."""
    return all(lex.allowed(lex.state(tokens[:k]))[tokens[k]] for k in range(len(tokens))) and (
        lex.is_final(lex.state(tokens))
    )


def test_lexicon_beam_search_is_exact_without_pruning():
    # vocab 3: blank, "▁A", "B"; words "A" and "AB": "B" may only follow "▁A", never twice
    model = random_model(vocab=3, seed=4)
    lex = WordLexicon(["<blk>", "\u2581A", "B"], ["A", "AB"], blank_id=0)
    enc, lens = random_encoder_out(model, [4, 3, 4], seed=4)
    beams = beam_search_hypotheses(model, enc, lens, beam=200, lexicon=lex)
    hyps = modified_beam_search(model, enc, lens, beam=200, lexicon=lex)
    for i, n in enumerate(lens.tolist()):
        ref = exhaustive_sequences(model, enc[i], n)
        # the constrained search keeps exactly the sequences whose every step is allowed, with
        # their unconstrained log-probs
        valid_prefix = {
            k: v
            for k, v in ref.items()
            if all(lex.allowed(lex.state(k[:j]))[k[j]] for j in range(len(k)))
        }
        assert sorted(beams[i]) == sorted(valid_prefix)
        for key, lp in valid_prefix.items():
            assert abs(beams[i][key] - lp) < 1e-4
        final = {k: v for k, v in ref.items() if lexicon_valid(lex, k)}
        assert hyps[i] == best_hypothesis(final, context_size=2)
    # the constraint matters here: without it some answer breaks the word list
    free = modified_beam_search(model, enc, lens, beam=200)
    assert any(not lexicon_valid(lex, h) for h in free)


def test_lexicon_beam_search_spells_only_listed_words():
    model = random_model(vocab=8, seed=5)
    lex = WordLexicon(TOY_PIECES, ["AB", "C"], blank_id=0)
    enc, lens = random_encoder_out(model, [12, 7, 15, 3], seed=5)
    hyps = modified_beam_search(model, enc, lens, beam=4, lexicon=lex)
    assert any(hyps)
    for h in hyps:
        words = "".join(TOY_PIECES[t] for t in h).replace("\u2581", " ").split()
        assert set(words) <= {"AB", "C"}, words
        assert 1 not in h  # <unk> is never emitted


def test_word_lexicon_from_files(tmp_path):
    import sentencepiece as spm

    text = tmp_path / "text.txt"
    text.write_text("HELLO WORLD\nWORLD PEACE\nHELLO THERE\n" * 20)
    from rnnt_kd.data.bpe import train_bpe

    lang = tmp_path / "lang"
    train_bpe(text, lang, vocab_size=16)
    words_txt = tmp_path / "words.txt"
    words_txt.write_text("<eps> 0\nHELLO 1\nPEACE 2\n#0 3\n")
    lex = WordLexicon.from_files(lang / "bpe.model", words_txt)
    assert lex.words == {"HELLO", "PEACE"}
    sp = spm.SentencePieceProcessor(model_file=str(lang / "bpe.model"))
    assert lex.vocab_size == sp.get_piece_size() == 16
    # <blk> allowed, <sos/eos> and <unk> never
    first = lex.allowed(None)
    assert first[0] and not first[sp.piece_to_id("<sos/eos>")] and not first[sp.unk_id()]
    lex2 = WordLexicon.from_files(lang / "bpe.model", text)
    assert lex2.words == {"HELLO", "WORLD", "PEACE", "THERE"}
    with pytest.raises(FileNotFoundError):
        WordLexicon.from_files(lang / "bpe.model", tmp_path / "missing.txt")
