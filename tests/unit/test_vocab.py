import numpy as np
import pytest

from plm_scaling.data import vocab

ESM2 = ("<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>").split()


def test_vocabulary_is_esm2_in_order():
    assert list(vocab.TOKENS) == ESM2
    assert (vocab.CLS, vocab.PAD, vocab.EOS, vocab.UNK, vocab.MASK) == (0, 1, 2, 3, 32)


def test_round_trip_every_residue_and_case():
    seq = vocab.RESIDUES + vocab.RESIDUES[::-1]
    ids = vocab.encode(seq.lower())
    assert ids.dtype == np.uint8
    assert vocab.decode(ids) == seq
    assert [vocab.TOKENS[i] for i in ids] == list(seq)


def test_special_tokens_decode_in_full():
    assert vocab.decode(np.array([vocab.CLS, 4, vocab.MASK, vocab.EOS])) == "<cls>L<mask><eos>"


@pytest.mark.parametrize("bad", ["ACD1", "AC@", "AC-D", "ACJ"])
def test_encode_rejects_non_residues(bad):
    with pytest.raises(ValueError, match="not a protein residue"):
        vocab.encode(bad)
