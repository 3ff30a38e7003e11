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

from shop.cart import AddItem, CheckOut  # noqa: E402
from webapp import create_app, operators  # noqa: E402
from webapp.db import get_emit, get_engine, get_policies, init_db  # noqa: E402
from webapp.demo import seed  # noqa: E402
from webapp.live_server import LiveServer, chromium_launch_options  # noqa: E402
from webapp.receipts import jam_printer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
# The history page keeps its state panel in view beside the events: tall enough to show it whole.
DESKTOP_TALL = {"width": 1280, "height": 1000}
PHONE = {"width": 375, "height": 812}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "EMIT_STORE_URL": f"sqlite:///{folder}/emit.sqlite3",
                "EMIT_RUN_POLICIES": False,  # the policies run below, when they should
                "RECEIPTS_FIRST_RETRY_WAIT": 0.01,
            }
        )
        init_db(app)
        emit = get_emit(app)
        seed(emit)
        get_policies(app).catch_up()  # the demo's receipts
        # A checkout while the receipt printer is jammed: a dead letter for the operations page.
        jam_printer(get_engine(app), True)
        emit.create("cart-0ff1ce01")
        emit.handle_command("cart-0ff1ce01", AddItem("TEA-CHAI", 2))
        emit.handle_command("cart-0ff1ce01", CheckOut())
        get_policies(app).catch_up()
        with LiveServer(app) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(**chromium_launch_options())
            desktop = browser.new_page(viewport=DESKTOP, color_scheme="light")
            shoot(desktop, f"{server.url}/", "dashboard.png")
            shoot(desktop, f"{server.url}/carts/cart-5eed0003", "cart.png")
            shoot(desktop, f"{server.url}/carts/cart-5eed0001", "receipt.png")
            # The operations page is for operators: sign in as one, made for this throwaway store.
            operators.create(get_engine(app), "demo", "screenshots-only-password")
            desktop.goto(f"{server.url}/sign-in")
            desktop.get_by_label("Name").fill("demo")
            desktop.get_by_label("Password").fill("screenshots-only-password")
            desktop.get_by_role("button", name="Sign in").click()
            desktop.wait_for_url(f"{server.url}/ops")
            shoot(desktop, f"{server.url}/ops", "ops.png")
            tall = browser.new_page(viewport=DESKTOP_TALL, color_scheme="light")
            # The version that removed the travel mug, its payload and metadata opened.
            tall.goto(f"{server.url}/carts/cart-5eed0001/history?version=7")
            tall.locator("#event-7 details").evaluate("details => { details.open = true; }")
            shoot(tall, None, "history.png")
            phone = browser.new_page(viewport=PHONE, device_scale_factor=2, color_scheme="light")
            # The header badge's link: on a phone the cart panel is on top, the catalog below.
            shoot(
                phone,
                f"{server.url}/carts/cart-5eed0003#cart-panel",
                "cart-phone.png",
                full_page=False,
            )
            shoot(
                phone,
                f"{server.url}/carts/cart-5eed0003/history?version=5#scrubber",
                "history-phone.png",
                full_page=False,
            )
            browser.close()
        get_emit(app).close()


def shoot(page: Page, url: str | None, name: str, *, full_page: bool = True) -> None:
    """Photograph `url` (None: the page as it is) once it has settled, animations finished."""
    if url is not None:
        page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / name, full_page=full_page, animations="disabled")
    print(f"wrote {(OUT / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
