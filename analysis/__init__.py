"""mesaworld analysis: reads run folders only (never imports training code).

Empty until the training issue lands run folders to read; see README "Roadmap".
"""
