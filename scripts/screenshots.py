"""Take the README's screenshots: the demo carts served from a throwaway store, photographed by
Debian's Chromium. Run it with `make screenshots`; it writes docs/screenshots/*.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from webapp import create_app  # noqa: E402
from webapp.demo import seed  # noqa: E402
from webapp.live_server import LiveServer, chromium_launch_options  # noqa: E402
from webapp.store import get_emit, init_db  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"EMIT_STORE_URL": f"sqlite:///{folder}/emit.sqlite3"})
        init_db(app)
        seed(get_emit(app))
        with LiveServer(app) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(**chromium_launch_options())
            desktop = browser.new_page(viewport=DESKTOP, color_scheme="light")
            shoot(desktop, f"{server.url}/", "dashboard.png")
            shoot(desktop, f"{server.url}/carts/cart-5eed0003", "cart.png")
            shoot(desktop, f"{server.url}/carts/cart-5eed0001", "receipt.png")
            phone = browser.new_page(viewport=PHONE, device_scale_factor=2, color_scheme="light")
            # The header badge's link: on a phone the cart panel sits below the catalog.
            shoot(
                phone,
                f"{server.url}/carts/cart-5eed0003#cart-panel",
                "cart-phone.png",
                full_page=False,
            )
            browser.close()
        get_emit(app).close()


def shoot(page: Page, url: str, name: str, *, full_page: bool = True) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / name, full_page=full_page)
    print(f"wrote {(OUT / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
