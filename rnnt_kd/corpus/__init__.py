"""The embedded synthetic speech corpus ("synthlibri"): offline TTS in LibriSpeech's layout.

Modules: ``text`` (sentences), ``speakers`` (voices), ``tts`` (synthesis), ``farfield`` (rooms +
noise), ``make_corpus`` (the generator and its CLI).
"""
